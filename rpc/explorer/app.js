// bafomet explorer: a page of the node's own JSON-RPC, served at /explorer/.
// Everything the node returns is put on the page as text (textContent),
// never as HTML: payloads, event attributes and names come from clients.
'use strict';

const LATEST = 20;          // blocks kept in the live list
const POLL_MS = 1000;       // block polling interval without a websocket
const STATUS_MS = 2000;     // status, validators and mempool refresh
const RECEIPTS_MAX = 100;   // transactions of a block whose receipts are fetched

let rpcID = 0;
let validators = [];        // chain_validators, by index
let status = null;          // chain_status
const blocks = new Map();   // height -> block (live list)
let liveFrom = 0;           // next height the live list expects
let socket = null;
let pollTimer = null;

const token = () => localStorage.getItem('bafomet.token') || '';

class RPCError extends Error {
  constructor(e) { super(`${e.message} (code ${e.code})`); this.code = e.code; }
}

async function rpc(method, ...params) {
  const headers = { 'Content-Type': 'application/json' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  const resp = await fetch('/', { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcID, method, params }) });
  let body;
  try { body = await resp.json(); } catch (e) { throw new Error(`${method}: HTTP ${resp.status}`); }
  if (body.error) throw new RPCError(body.error);
  return body.result;
}

// el builds an element: el('td', {class: 'mono'}, 'text', child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const link = (href, text) => el('a', { href }, text);
const short = h => (h && h.length > 18 ? h.slice(0, 10) + '…' + h.slice(-6) : h || '');
const time = ms => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '');
const row = (...cells) => el('tr', null, ...cells.map(c => (c instanceof Node && c.tagName === 'TD' ? c : el('td', null, c))));
const mono = (text, attrs) => el('td', Object.assign({ class: 'mono' }, attrs), text);
const table = (heads, rows, attrs) => el('table', attrs, el('thead', null, el('tr', null, ...heads.map(h => el('th', null, h)))), el('tbody', null, ...rows));
const field = (name, value) => el('div', null, el('span', null, name), value);

function validatorName(i) {
  const v = validators[i];
  return v ? v.name : `#${i}`;
}

function validatorByAddress(addr) {
  return validators.findIndex(v => v.address.toLowerCase() === String(addr).toLowerCase());
}

// payloadText shows a payload as text when it is printable UTF-8, else hex.
function payloadText(hex) {
  if (hex === null || hex === undefined) return '(not kept)';
  const bytes = new Uint8Array((hex.slice(2).match(/../g) || []).map(b => parseInt(b, 16)));
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (/^[\P{C}\n\t]*$/u.test(s)) return s;
  } catch (e) { /* not UTF-8 */ }
  return hex;
}

function show(...nodes) {
  const view = document.getElementById('view');
  view.replaceChildren(...nodes);
}

function failure(what, err) {
  return el('section', { id: 'error' }, el('h2', { class: 'bad' }, what), el('p', null, err.message || String(err)),
    err.code === -32030 || err.code === -32031 ? el('p', { class: 'muted' }, 'This node needs a token with the read permission: enter it under "token".') : null);
}

// ---- home: status, validators, mempool, latest blocks ----

function homeView() {
  show(
    el('section', { id: 'status' }, el('h2', null, 'Node'), el('div', { class: 'grid', id: 'status-grid' })),
    el('section', { id: 'blocks' }, el('h2', null, 'Latest blocks'),
      table(['height', 'hash', 'txs', 'view', 'proposer', 'time'], [], { id: 'blocks-table' })),
    el('section', { id: 'validators' }, el('h2', null, 'Validators'),
      table(['#', 'name', 'address', 'role', 'online'], [], { id: 'validators-table' })),
    el('section', { id: 'mempool' }, el('h2', null, 'Mempool'), el('div', { class: 'grid', id: 'mempool-grid' })),
  );
  renderStatus();
  renderBlocks();
}

async function refreshStatus() {
  try {
    [status, validators] = await Promise.all([rpc('chain_status'), rpc('chain_validators')]);
    document.getElementById('chain').textContent = `${status.chainId} · height ${status.height} · view ${status.view}`;
  } catch (e) {
    document.getElementById('chain').textContent = 'node unreachable: ' + e.message;
  }
  if (route().name === 'home') {
    renderStatus();
    refreshMempool();
  }
}

function renderStatus() {
  const grid = document.getElementById('status-grid');
  if (!grid || !status) return;
  const primary = validatorByAddress(status.primary);
  grid.replaceChildren(
    field('chain', status.chainId),
    field('height', link(`#/block/${status.height}`, status.height)),
    field('view', status.view),
    field('primary', primary >= 0 ? `${validatorName(primary)} (#${primary})` : short(status.primary)),
    field('peers', status.peers),
    field('syncing', status.syncing ? `yes: ${status.sync.current} of ${status.sync.target}` : 'no'),
    field('node', el('span', { class: 'mono' }, short(status.nodeAddress))),
  );
  const tbody = document.querySelector('#validators-table tbody');
  tbody.replaceChildren(...validators.map((v, i) => el('tr', { 'data-validator': i },
    el('td', null, i), el('td', null, v.name), mono(v.address),
    el('td', null, i === primary ? `primary of view ${status.view}` : 'backup'),
    el('td', { class: v.online ? 'ok' : 'bad' }, v.online ? 'yes' : 'no'))));
}

async function refreshMempool() {
  const grid = document.getElementById('mempool-grid');
  if (!grid) return;
  try {
    const m = await rpc('mempool_status');
    grid.replaceChildren(field('transactions', `${m.size} of ${m.limit}`), field('bytes', `${m.bytes} of ${m.bytesLimit}`),
      field('queued behind a nonce gap', `${m.queued} of ${m.queuedLimit}`));
  } catch (e) {
    grid.replaceChildren(el('div', { class: 'muted' }, e.code === -32031 ? 'needs a token with the admin permission' : e.message));
  }
}

function renderBlocks(fresh) {
  const tbody = document.querySelector('#blocks-table tbody');
  if (!tbody) return;
  const heights = [...blocks.keys()].sort((a, b) => b - a);
  tbody.replaceChildren(...heights.map(h => {
    const b = blocks.get(h);
    const p = validatorByAddress(b.proposer);
    return el('tr', { 'data-height': h, class: h === fresh ? 'new' : null },
      el('td', null, link(`#/block/${h}`, h)), mono(short(b.hash)), el('td', null, b.transactions.length),
      el('td', null, b.view), el('td', null, p >= 0 ? validatorName(p) : short(b.proposer)), el('td', null, time(b.timestamp)));
  }));
}

function addBlock(b) {
  if (b.height < liveFrom) return;
  blocks.set(b.height, b);
  liveFrom = b.height + 1;
  for (const h of [...blocks.keys()]) if (h <= b.height - LATEST) blocks.delete(h);
  renderBlocks(b.height);
  document.getElementById('live').textContent = `live: block ${b.height} at ${time(b.timestamp)}`;
}

// follow keeps the live list current: over a websocket subscription when
// no token is set (browsers cannot send a bearer header on a websocket),
// by polling chain_blockNumber otherwise or when the socket fails.
async function follow() {
  let height = 0;
  try { height = await rpc('chain_blockNumber'); } catch (e) { setTimeout(follow, POLL_MS); return; }
  if (liveFrom === 0) liveFrom = Math.max(1, height - LATEST + 1);
  if (!token() && 'WebSocket' in window) {
    subscribe();
  } else {
    poll();
  }
}

function subscribe() {
  const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/');
  socket = ws;
  let subscribed = false;
  ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: ++rpcID, method: 'chain_subscribe', params: ['newBlocks', { fromHeight: liveFrom }] }));
  ws.onmessage = ev => {
    const msg = JSON.parse(ev.data);
    if (msg.error) { ws.close(); return; }
    if (msg.result !== undefined && !msg.method) { subscribed = true; return; }
    if (msg.method === 'chain_subscription') {
      const r = msg.params.result;
      if (r && r.error) { ws.close(); return; } // too slow: resubscribe from liveFrom
      if (r) addBlock(r);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    if (subscribed) setTimeout(subscribe, POLL_MS); else poll();
  };
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const height = await rpc('chain_blockNumber');
    for (let h = Math.max(liveFrom, height - LATEST + 1); h <= height; h++) {
      const b = await rpc('chain_getBlockByNumber', h, false);
      if (b) addBlock(b);
    }
  } catch (e) {
    document.getElementById('live').textContent = 'polling: ' + e.message;
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

// ---- block page ----

async function blockView(number) {
  show(el('p', { class: 'muted' }, `Loading block ${number}…`));
  let b, cert, verdict;
  try {
    [b, cert, verdict] = await Promise.all([rpc('chain_getBlockByNumber', number, true), rpc('chain_getCertificate', number), rpc('chain_verifyCertificate', number)]);
  } catch (e) { show(failure(`Block ${number}`, e)); return; }
  if (!b) { show(el('section', { id: 'error' }, el('h2', null, `No block at height ${number}`))); return; }
  const p = validatorByAddress(b.proposer);
  const header = el('section', { id: 'block', 'data-height': b.height },
    el('h2', null, `Block ${b.height}`),
    el('div', { class: 'grid' },
      field('hash', el('span', { class: 'mono' }, b.hash)),
      field('parent', b.height > 1 ? link(`#/block/${b.height - 1}`, short(b.parentHash)) : short(b.parentHash)),
      field('time', time(b.timestamp)),
      field('proposer', p >= 0 ? `${validatorName(p)} (#${p})` : b.proposer),
      field('view', b.view),
      field('transactions', b.transactions.length),
      field('tx root', el('span', { class: 'mono' }, short(b.txRoot))),
      field('app hash', el('span', { class: 'mono' }, short(b.appHash))),
      link(`#/block/${b.height + 1}`, 'next block →')));
  show(header, certificateSection(cert, verdict), await transactionsSection(b));
}

function certificateSection(cert, v) {
  const signed = new Map((cert ? cert.signatures : []).map(s => [s.validator, s]));
  const verdict = v.valid
    ? el('p', { id: 'verdict', class: 'ok', 'data-valid': 'true' }, `✔ valid: ${v.signers.length} of ${v.validators} validators signed; a quorum is ${v.quorum} (checked by this node against the genesis validator set)`)
    : el('p', { id: 'verdict', class: 'bad', 'data-valid': 'false' }, `✘ not valid: ${v.error}`);
  const rows = validators.map((val, i) => {
    const s = signed.get(i);
    return el('tr', { 'data-validator': i, 'data-signed': s ? 'true' : 'false' },
      el('td', null, i), el('td', null, val.name), mono(val.address),
      el('td', { class: s ? 'ok' : 'muted' }, s ? 'signed' : 'no signature'), mono(s ? short(s.signature) : ''));
  });
  return el('section', { id: 'certificate' }, el('h2', null, `Commit certificate (view ${cert ? cert.view : '?'})`), verdict,
    table(['#', 'validator', 'address', 'commit', 'signature'], rows, { id: 'signers' }),
    el('p', { class: 'muted' }, `To check without trusting this node: bafomet verify block --genesis genesis.json --rpc ${location.origin} ${cert ? cert.height : ''}`));
}

async function transactionsSection(b) {
  const txs = b.transactions;
  const infos = await Promise.all(txs.slice(0, RECEIPTS_MAX).map(tx => rpc('chain_getTransaction', tx.hash).catch(() => null)));
  const rows = txs.map((tx, i) => {
    const r = infos[i] && infos[i].receipt;
    return el('tr', { 'data-tx': tx.hash },
      el('td', null, i), el('td', { class: 'mono' }, link(`#/tx/${tx.hash}`, short(tx.hash))), mono(short(tx.sender)),
      el('td', null, tx.nonce), mono(payloadText(tx.payload)),
      el('td', { class: r ? (r.code === 0 ? 'ok' : 'bad') : 'muted' }, r ? (r.code === 0 ? 'ok' : `code ${r.code}: ${r.message}`) : '…'),
      el('td', null, r ? eventsText(r.events) : ''));
  });
  return el('section', { id: 'transactions' }, el('h2', null, `Transactions (${txs.length})`),
    txs.length ? table(['#', 'hash', 'sender', 'nonce', 'payload', 'result', 'events'], rows, { id: 'txs' }) : el('p', { class: 'muted' }, 'none'),
    txs.length > RECEIPTS_MAX ? el('p', { class: 'muted' }, `receipts shown for the first ${RECEIPTS_MAX}`) : null);
}

function eventsText(events) {
  return (events || []).map(e => `${e.type}(${(e.attributes || []).map(a => `${a.key}=${a.value}`).join(', ')})`).join('; ');
}

// ---- transaction page ----

async function txView(hash) {
  show(el('p', { class: 'muted' }, `Loading transaction ${hash}…`));
  let tx;
  try { tx = await rpc('chain_getTransaction', hash); } catch (e) { show(failure('Transaction', e)); return; }
  if (!tx) {
    let b = null;
    try { b = await rpc('chain_getBlockByHash', hash, false); } catch (e) { /* not a block either */ }
    if (b) { location.hash = `#/block/${b.height}`; return; }
    show(el('section', { id: 'error' }, el('h2', null, 'Unknown hash'), el('p', { class: 'mono' }, hash),
      el('p', { class: 'muted' }, 'No transaction or block with this hash: never seen here, or dropped long ago.')));
    return;
  }
  const r = tx.receipt;
  show(el('section', { id: 'tx', 'data-status': tx.status },
    el('h2', null, 'Transaction'),
    el('div', { class: 'grid' },
      field('hash', el('span', { class: 'mono' }, tx.hash)),
      field('status', el('span', { id: 'tx-status', class: tx.status === 'dropped' ? 'bad' : (tx.status === 'committed' ? 'ok' : null) }, tx.status)),
      tx.reason ? field('why', tx.reason) : null,
      tx.height !== null ? field('block', link(`#/block/${tx.height}`, tx.height)) : null,
      tx.index !== null ? field('index', tx.index) : null,
      field('sender', el('span', { class: 'mono' }, tx.sender)),
      field('nonce', tx.nonce),
      field('payload', el('span', { class: 'mono' }, payloadText(tx.payload))),
      r ? field('result', r.code === 0 ? 'ok' : `code ${r.code}: ${r.message}`) : null,
      r ? field('events', eventsText(r.events) || 'none') : null)));
}

// ---- routing ----

function route() {
  const m = location.hash.match(/^#\/(block|tx)\/(.+)$/);
  if (!m) return { name: 'home' };
  return { name: m[1], arg: decodeURIComponent(m[2]) };
}

async function render() {
  const r = route();
  if (!validators.length) await refreshStatus();
  if (r.name === 'block' && /^\d+$/.test(r.arg)) return blockView(Number(r.arg));
  if (r.name === 'tx') return txView(r.arg);
  homeView();
}

function search(ev) {
  ev.preventDefault();
  const q = document.getElementById('query').value.trim();
  if (/^\d+$/.test(q)) location.hash = `#/block/${q}`;
  else if (/^(0x)?[0-9a-fA-F]{64}$/.test(q)) location.hash = `#/tx/${q.startsWith('0x') ? q : '0x' + q}`;
}

function saveToken(ev) {
  ev.preventDefault();
  const t = document.getElementById('token').value.trim();
  if (t) localStorage.setItem('bafomet.token', t); else localStorage.removeItem('bafomet.token');
  location.reload();
}

window.addEventListener('DOMContentLoaded', () => {
  document.getElementById('search').addEventListener('submit', search);
  document.getElementById('token-form').addEventListener('submit', saveToken);
  window.addEventListener('hashchange', render);
  render().then(follow);
  setInterval(refreshStatus, STATUS_MS);
});
