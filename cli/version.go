package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release version; builds set it with
// -ldflags "-X github.com/bafomet/bafomet/cli.version=v1.2.3".
var version = "0.1.0-dev"

func init() {
	register(&command{name: "version", summary: "print the version", run: runVersion})
}

// formatVersion renders the version line from the build information.
func formatVersion(v string, info *debug.BuildInfo, goos, goarch string) string {
	commit, modified, goVersion := "unknown", false, runtime.Version()
	if info != nil {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += "-modified"
	}
	return fmt.Sprintf("bafomet %s (commit %s, %s %s/%s)", v, commit, goVersion, goos, goarch)
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	f := newFlags("version", "", "Print the version, the source commit and the Go toolchain.")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, formatVersion(version, info, runtime.GOOS, runtime.GOARCH))
	return exitOK
}
