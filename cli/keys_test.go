package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// Private key 1: its address and compressed public key are well known.
const (
	key1Hex    = "0000000000000000000000000000000000000000000000000000000000000001"
	key1Addr   = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
	key1Pub    = "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	key1PeerID = "16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq"
)

func TestKeysShow(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "k1.key", key1Hex, 0o600)
	code, out, errOut := runCmd(t, "keys", "show", path)
	want := "address: " + key1Addr + "\npub_key: " + key1Pub + "\npeer_id: " + key1PeerID + "\n"
	if code != exitOK || out != want || errOut != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, "keys", "show", "--json", path)
	wantJSON := "{\n  \"address\": \"" + key1Addr + "\",\n  \"pub_key\": \"" + key1Pub + "\",\n  \"peer_id\": \"" + key1PeerID + "\"\n}\n"
	if code != exitOK || out != wantJSON {
		t.Fatalf("--json: code %d stdout %q", code, out)
	}
	// A key file with a trailing newline, as editors write it, still loads.
	withNL := writeFile(t, dir, "nl.key", key1Hex+"\n", 0o600)
	if code, out, _ := runCmd(t, "keys", "show", withNL); code != exitOK || out != want {
		t.Fatalf("trailing newline: code %d stdout %q", code, out)
	}
}

func TestKeysShowErrors(t *testing.T) {
	dir := t.TempDir()
	loose := writeFile(t, dir, "loose.key", key1Hex, 0o644)
	code, _, errOut := runCmd(t, "keys", "show", loose)
	if code != exitOK || errOut != "bafomet keys show: warning: "+loose+" has mode 0644; run chmod 600 "+loose+"\n" {
		t.Fatalf("loose mode: code %d stderr %q", code, errOut)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string // prefix of stderr
	}{
		{"missing file", []string{filepath.Join(dir, "nope.key")}, exitFail,
			"bafomet keys show: load key " + filepath.Join(dir, "nope.key") + ": open "},
		{"not hex", []string{writeFile(t, dir, "bad.key", strings.Repeat("zz", 32), 0o600)}, exitFail,
			"bafomet keys show: load key " + filepath.Join(dir, "bad.key") + ": "},
		{"short", []string{writeFile(t, dir, "short.key", "0102", 0o600)}, exitFail,
			"bafomet keys show: load key " + filepath.Join(dir, "short.key") + ": "},
		{"zero key", []string{writeFile(t, dir, "zero.key", strings.Repeat("00", 32), 0o600)}, exitFail,
			"bafomet keys show: load key " + filepath.Join(dir, "zero.key") + ": "},
		{"no argument", nil, exitUsage, "bafomet keys show: want 1 argument(s), got 0\n"},
		{"two arguments", []string{"a", "b"}, exitUsage, "bafomet keys show: want 1 argument(s), got 2\n"},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, append([]string{"keys", "show"}, tc.args...)...)
		if code != tc.code || out != "" || !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
	}
}

func TestKeysNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.key")
	code, out, errOut := runCmd(t, "keys", "new", "--out", path)
	if code != exitOK || errOut != "" {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v)", fi.Mode(), err)
	}
	// The file is exactly what go-ethereum's SaveECDSA writes for the key.
	key, err := crypto.LoadECDSA(path)
	if err != nil {
		t.Fatal(err)
	}
	gethPath := filepath.Join(dir, "geth.key")
	if err := crypto.SaveECDSA(gethPath, key); err != nil {
		t.Fatal(err)
	}
	ours, _ := os.ReadFile(path)
	theirs, _ := os.ReadFile(gethPath)
	if !bytes.Equal(ours, theirs) || len(ours) != 64 {
		t.Fatalf("key file %q, SaveECDSA writes %q", ours, theirs)
	}
	// What new printed is what show prints.
	_, shown, _ := runCmd(t, "keys", "show", path)
	if out != shown || !strings.HasPrefix(out, "address: "+crypto.PubkeyToAddress(key.PublicKey).Hex()+"\n") {
		t.Fatalf("new printed %q, show prints %q", out, shown)
	}
	// Never overwrite.
	code, out, errOut = runCmd(t, "keys", "new", "--out", path)
	if code != exitFail || out != "" || errOut != "bafomet keys new: refusing to overwrite existing key file "+path+"\n" {
		t.Fatalf("overwrite: code %d stdout %q stderr %q", code, out, errOut)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, ours) {
		t.Fatal("existing key file changed")
	}
}

func TestKeysNewErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"missing --out", nil, exitUsage, "bafomet keys new: missing --out\n\nusage: bafomet keys new --out FILE [--json]\n"},
		{"positional", []string{"--out", filepath.Join(dir, "a"), "extra"}, exitUsage, "bafomet keys new: want 0 argument(s), got 1\n"},
		{"missing directory", []string{"--out", filepath.Join(dir, "no", "such", "k.key")}, exitFail, "bafomet keys new: write key: open "},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, append([]string{"keys", "new"}, tc.args...)...)
		if code != tc.code || out != "" || !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
	}
}

func TestGenKey(t *testing.T) {
	// A draw of zero and a draw above the curve order are skipped.
	zero := make([]byte, 32)
	high := bytes.Repeat([]byte{0xff}, 32)
	one := append(make([]byte, 31), 1)
	k, err := genKey(bytes.NewReader(append(append(zero, high...), one...)))
	if err != nil || crypto.PubkeyToAddress(k.PublicKey).Hex() != key1Addr {
		t.Fatalf("genKey = %v, %v", k, err)
	}
	_, err = genKey(bytes.NewReader(bytes.Repeat(zero, maxKeyAttempts)))
	if err == nil || err.Error() != "generate key: no valid scalar drawn" {
		t.Fatalf("all-zero draws: %v", err)
	}
	_, err = genKey(bytes.NewReader(zero[:10]))
	if err == nil || err.Error() != "generate key: unexpected EOF" {
		t.Fatalf("short reader: %v", err)
	}
}
