package meta

import (
	"errors"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestCheckDupConfig(t *testing.T) {
	base := Options{
		Address: "127.0.0.1:34601", ClusterName: "src", MetaServers: []string{"127.0.0.1:34601", "127.0.0.1:34602"},
		Clusters: map[string][]string{
			"dst":   {"127.0.0.1:35601"},
			"noid":  {"127.0.0.1:36601"},
			"loop":  {"127.0.0.1:34602"},
			"loop2": {"127.0.0.1:34601"},
		},
		DupGroup: map[string]int{"src": 1, "dst": 2, "loop": 3, "loop2": 4},
	}
	tests := []struct {
		name   string
		mod    func(o *Options)
		remote string
		code   protocol.ErrorCode
		msg    string
	}{
		{name: "ok", remote: "dst"},
		{name: "disabled", mod: func(o *Options) { o.DisableDuplication = true }, remote: "dst",
			code: protocol.CodeInvalidConfig, msg: "duplication is disabled"},
		{name: "unknown remote", remote: "nowhere", code: protocol.CodeInvalidArgument,
			msg: `unknown remote cluster "nowhere": add it to [pegasus.clusters] of the meta servers (known: dst, loop, loop2, noid)`},
		{name: "itself by name", remote: "src", code: protocol.CodeInvalidArgument, msg: "cannot duplicate to itself"},
		{name: "itself by meta list", remote: "loop", code: protocol.CodeInvalidArgument, msg: "lists this cluster's meta server 127.0.0.1:34602"},
		{name: "itself by address", remote: "loop2", code: protocol.CodeInvalidArgument, msg: "cannot duplicate to itself"},
		{name: "no remote id", remote: "noid", code: protocol.CodeInvalidConfig, msg: `no cluster id to remote cluster "noid"`},
		{name: "no own id", mod: func(o *Options) { o.DupGroup = map[string]int{"dst": 2} }, remote: "dst",
			code: protocol.CodeInvalidConfig, msg: `no cluster id to this cluster "src"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			if tt.mod != nil {
				tt.mod(&o)
			}
			err := (&Server{opts: o}).checkDupConfig(tt.remote)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.code) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v, want %v containing %q", err, tt.code, tt.msg)
			}
		})
	}
}
