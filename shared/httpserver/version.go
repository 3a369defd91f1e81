package httpserver

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit identify the build on /version. Set them at link time,
// e.g.
//
//	go build -ldflags "-X github.com/pegasus-go/pegasus/shared/httpserver.Version=v1.2.0 \
//	    -X github.com/pegasus-go/pegasus/shared/httpserver.Commit=$(git rev-parse HEAD)"
//
// When empty, /version falls back to the module version and VCS revision
// recorded by the Go toolchain (runtime/debug.ReadBuildInfo).
var (
	Version string
	Commit  string
)

// VersionInfo is the body of /version.
type VersionInfo struct {
	Version   string `json:"version"`              // release version, "devel" when unknown
	Commit    string `json:"commit"`               // VCS revision, "unknown" when not recorded
	GoVersion string `json:"go_version"`           // toolchain that built the binary
	Module    string `json:"module,omitempty"`     // main module path
	BuildTime string `json:"build_time,omitempty"` // commit time recorded by the toolchain
	Modified  bool   `json:"modified,omitempty"`   // built from a modified work tree
}

// BuildVersion describes the running binary from Version, Commit and the
// build information the Go toolchain embeds.
func BuildVersion() VersionInfo {
	v := VersionInfo{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				v.BuildTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}
