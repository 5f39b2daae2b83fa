package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "bafomet 1.2.3 (commit unknown, " + runtime.Version() + " linux/amd64)"},
		{"clean commit", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "false"},
		}}, "bafomet 1.2.3 (commit 0123456789ab, go1.26.8 linux/amd64)"},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
		}}, "bafomet 1.2.3 (commit abc-modified, go1.26.8 linux/amd64)"},
	}
	for _, tc := range tests {
		if got := formatVersion("1.2.3", tc.info, "linux", "amd64"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, errOut := runCmd(t, "version")
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, "bafomet "+version+" (commit ") || !strings.HasSuffix(out, ")\n") {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runCmd(t, "version", "extra")
	if code != exitUsage || !strings.HasPrefix(errOut, "bafomet version: want 0 argument(s), got 1\n") {
		t.Fatalf("extra arg: code %d stderr %q", code, errOut)
	}
}
