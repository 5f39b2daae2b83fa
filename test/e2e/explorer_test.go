package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
)

// chromiumRunTimeout bounds one headless Chromium run.
const chromiumRunTimeout = 90 * time.Second

// TestExplorerInBrowser starts `bafomet devnet`, commits a transaction
// whose payload is markup, and opens the explorer in headless Chromium:
// the block appears in the live list, its page shows the certificate's
// signers as the node's chain_getCertificate has them with the node's
// verdict, the payload shows as text, and a screenshot of the block page is
// kept (BAFOMET_ARTIFACTS, default a directory under the system temp dir).
func TestExplorerInBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("no chromium, chromium-browser or google-chrome on PATH: the explorer's browser test needs one (Debian: apt-get install chromium)")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "devnet")
	base := freeBasePort(t, 4)
	devnet := exec.Command(binary, "devnet", "--home", home, "--base-port", strconv.Itoa(base))
	out, err := os.Create(filepath.Join(dir, "devnet.out"))
	if err != nil {
		t.Fatal(err)
	}
	devnet.Stdout, devnet.Stderr = out, out
	devnet.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := devnet.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { devnet.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		devnet.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			devnet.Process.Kill()
			<-done
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", base+1)
	node := dialWhenUp(t, url, done, filepath.Join(dir, "devnet.out"))
	defer node.Close()

	var m manifest
	data, err := os.ReadFile(filepath.Join(home, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	key, err := crypto.LoadECDSA(m.Accounts[0].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	const marker = `<img src=x onerror="document.title='pwned'">`
	tx, err := chain.SignTx(key, m.ChainID, 0, []byte("explorer="+marker))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hash, err := node.SendRawTx(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := node.WaitTx(ctx, hash)
	if err != nil {
		t.Fatalf("transaction not committed: %v", err)
	}
	height := *res.Height
	cert, err := node.Certificate(ctx, height)
	if err != nil {
		t.Fatal(err)
	}

	home0 := url + "/explorer/"
	var dom string
	for try := 0; try < 3 && !strings.Contains(dom, fmt.Sprintf(`data-height="%d"`, height)); try++ {
		dom = dumpDOM(t, browser, home0)
	}
	if !strings.Contains(dom, fmt.Sprintf(`<tr data-height="%d"`, height)) {
		t.Fatalf("block %d not in the explorer's latest blocks:\n%s", height, tail(dom, 40))
	}
	if !strings.Contains(dom, `id="live"`) || !regexp.MustCompile(`live: block \d+`).MatchString(dom) {
		t.Fatalf("the live list is not following blocks:\n%s", tail(dom, 10))
	}

	page := fmt.Sprintf("%s#/block/%d", home0, height)
	dom = dumpDOM(t, browser, page)
	if !strings.Contains(dom, `id="verdict" class="ok" data-valid="true"`) {
		t.Fatalf("block page has no valid verdict:\n%s", tail(dom, 40))
	}
	signed := regexp.MustCompile(`<tr data-validator="(\d+)" data-signed="true">`).FindAllStringSubmatch(dom, -1)
	if len(signed) != len(cert.Signatures) {
		t.Fatalf("page shows %d signers, the certificate has %d:\n%s", len(signed), len(cert.Signatures), tail(dom, 40))
	}
	for i, s := range cert.Signatures {
		if signed[i][1] != strconv.Itoa(int(s.Validator)) {
			t.Fatalf("signer %d on the page is validator %s, the certificate says %d", i, signed[i][1], s.Validator)
		}
	}
	if strings.Contains(dom, "<img") || !strings.Contains(dom, "explorer=&lt;img src=x") || !strings.Contains(dom, "<title>bafomet explorer</title>") {
		t.Fatalf("the payload was not shown as text:\n%s", tail(dom, 40))
	}
	shot := screenshot(t, browser, page)
	t.Logf("screenshot of %s: %s", page, shot)
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// dialWhenUp waits until the devnet's first node answers JSON-RPC.
func dialWhenUp(t *testing.T, url string, exited <-chan struct{}, log string) *client.Client {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(log)
			t.Fatalf("devnet exited:\n%s", out)
		default:
		}
		c, err := client.Dial(context.Background(), url, client.Options{})
		if err == nil {
			if _, err = c.BlockNumber(context.Background()); err == nil {
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log)
			t.Fatalf("devnet's RPC at %s not up within a minute: %v\n%s", url, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// chromium runs headless Chromium on url with the extra flags, lets the
// page's script run for 8 s of virtual time, and returns its stdout.
func chromium(t *testing.T, browser, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumRunTimeout)
	defer cancel()
	args := append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=8000"}, flags...)
	cmd := exec.CommandContext(ctx, browser, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", browser, url, err, tail(stderr.String(), 20))
	}
	return string(out)
}

func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	return chromium(t, browser, url, "--dump-dom")
}

func screenshot(t *testing.T, browser, url string) string {
	t.Helper()
	dir := os.Getenv("BAFOMET_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bafomet-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "explorer-block.png"))
	if err != nil {
		t.Fatal(err)
	}
	chromium(t, browser, url, "--window-size=1280,1000", "--screenshot="+path)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", path, err)
	}
	return path
}
