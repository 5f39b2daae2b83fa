package sim

import (
	"errors"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

func testStorage(t *testing.T, height int) *storage {
	t.Helper()
	gen := &chain.Block{Header: chain.Header{Timestamp: genesisTimeMs}}
	s := newStorage(gen, chain.Hash{0xaa})
	for h := 1; h <= height; h++ {
		b := &chain.Block{Header: chain.Header{Height: uint64(h), Timestamp: genesisTimeMs + uint64(h)}}
		s.execute(b, &chain.Certificate{Height: uint64(h)})
	}
	return s
}

func TestStorageExecuteChainsAppHashes(t *testing.T) {
	s := testStorage(t, 2)
	b1, b2 := s.blocks[0].Hash(), s.blocks[1].Hash()
	want1 := crypto.Keccak256Hash(chain.Hash{0xaa}.Bytes(), b1[:])
	want2 := crypto.Keccak256Hash(want1[:], b2[:])
	if s.appHashes[1] != want1 || s.appHashes[2] != want2 {
		t.Fatalf("appHashes %v, want [%s %s]", s.appHashes[1:], want1, want2)
	}
}

func TestStorageRestore(t *testing.T) {
	tests := []struct {
		height  int
		window  uint64
		heights []uint64
	}{
		{0, 1, []uint64{0}},
		{0, 2, []uint64{0}},
		{1, 2, []uint64{0, 1}},
		{5, 2, []uint64{4, 5}},
		{5, 1, []uint64{5}},
		{3, 4, []uint64{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		s := testStorage(t, tt.height)
		r := s.restore(tt.window)
		var got []uint64
		for _, a := range r.AppHashes {
			got = append(got, a.Height)
			if a.AppHash != s.appHashes[a.Height] {
				t.Fatalf("height %d: wrong appHash", a.Height)
			}
		}
		if !slices.Equal(got, tt.heights) {
			t.Fatalf("height %d window %d: appHash heights %v, want %v", tt.height, tt.window, got, tt.heights)
		}
		if r.Height != uint64(tt.height) || r.BlockHash != s.tip().Hash() || r.BlockTimestamp != s.tip().Header.Timestamp {
			t.Fatalf("height %d: restore %+v does not name the tip", tt.height, r)
		}
	}
}

func TestStorageStablePrunesCoveredRecords(t *testing.T) {
	s := testStorage(t, 0)
	rec := func(typ ordering.MsgType, h uint64) ordering.Record {
		return ordering.Record{Msg: &ordering.Message{Type: typ, Height: h}, Height: h}
	}
	s.persist([]ordering.Record{
		rec(ordering.MsgPrepare, 9), rec(ordering.MsgViewChange, 30), rec(ordering.MsgCommit, 10),
		rec(ordering.MsgCommit, 11), rec(ordering.MsgViewChange, 10), rec(ordering.MsgPrepare, 12),
	})
	s.setStable(&ordering.CheckpointProof{Height: 10})
	s.prune(10)
	var got []uint64
	for _, m := range s.records {
		got = append(got, m.Height)
	}
	if want := []uint64{30, 11, 12}; !slices.Equal(got, want) {
		t.Fatalf("kept heights %v, want %v", got, want)
	}
	s.setStable(&ordering.CheckpointProof{Height: 5}) // older: ignored
	s.prune(5)
	if s.stable.Height != 10 || len(s.records) != 3 {
		t.Fatalf("an older checkpoint replaced the stable one: %d, %d records", s.stable.Height, len(s.records))
	}
}

func TestStorageCertified(t *testing.T) {
	s := testStorage(t, 5)
	tests := []struct {
		from    uint64
		limit   int
		heights []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{3, 10, []uint64{4, 5}},
		{4, 1, []uint64{5}},
		{5, 3, nil},
		{9, 3, nil},
	}
	for _, tt := range tests {
		blocks, certs := s.certified(tt.from, tt.limit)
		var got []uint64
		for i, b := range blocks {
			got = append(got, b.Header.Height)
			if certs[i].Height != b.Header.Height {
				t.Fatalf("certificate %d does not match block %d", certs[i].Height, b.Header.Height)
			}
		}
		if !slices.Equal(got, tt.heights) {
			t.Fatalf("certified(%d, %d) = %v, want %v", tt.from, tt.limit, got, tt.heights)
		}
	}
}

func TestPoolReapLimits(t *testing.T) {
	w := newWorkload(3, ChainID)
	p := newPool(w)
	for i := range 6 {
		tx, err := w.next()
		if err != nil {
			t.Fatal(err)
		}
		p.add(i, tx.hash)
	}
	size := len(w.txs[0].raw)
	p.markDone(w.txs[0].hash)
	p.inflight[w.txs[2].hash] = struct{}{}
	tests := []struct {
		maxTxs, maxBytes int
		want             []int
	}{
		{10, 1 << 20, []int{1, 3, 4, 5}},
		{2, 1 << 20, []int{1, 3}},
		{10, 2 * size, []int{1, 3}},
		{10, size - 1, nil},
	}
	for _, tt := range tests {
		if got := p.reap(w, tt.maxTxs, tt.maxBytes); !slices.Equal(got, tt.want) {
			t.Fatalf("reap(%d, %d) = %v, want %v", tt.maxTxs, tt.maxBytes, got, tt.want)
		}
		if p.pending != 5 {
			t.Fatalf("pending %d, want 5", p.pending)
		}
	}
	p.markDone(w.txs[1].hash)
	p.markDone(w.txs[1].hash) // twice: counted once
	if p.pending != 4 {
		t.Fatalf("pending %d after a commit, want 4", p.pending)
	}
	p.markDone(chain.Hash{9}) // not in the pool
	if p.pending != 4 {
		t.Fatalf("pending %d after a foreign commit, want 4", p.pending)
	}
}

func TestProposalChecker(t *testing.T) {
	w := newWorkload(3, ChainID)
	for range 2 {
		if _, err := w.next(); err != nil {
			t.Fatal(err)
		}
	}
	pc := proposalChecker{w}
	block := func(txs [][]byte, senders []chain.Address) *chain.Block {
		return &chain.Block{Txs: txs, Senders: senders}
	}
	a, b := w.txs[0], w.txs[1]
	tests := []struct {
		name string
		b    *chain.Block
		want error
	}{
		{"empty", block(nil, nil), nil},
		{"submitted", block([][]byte{a.raw, b.raw}, []chain.Address{a.sender, b.sender}), nil},
		{"unknown tx", block([][]byte{[]byte("x")}, []chain.Address{a.sender}), ErrTxNotSubmitted},
		{"wrong sender", block([][]byte{a.raw}, []chain.Address{b.sender}), ErrTxWrongSender},
		{"duplicate", block([][]byte{a.raw, a.raw}, []chain.Address{a.sender, a.sender}), ErrTxDuplicate},
		{"senders mismatch", block([][]byte{a.raw}, nil), chain.ErrSendersMismatch},
	}
	for _, tt := range tests {
		err := pc.CheckProposal(tt.b)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Fatalf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
}
