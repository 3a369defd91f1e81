package meta

import (
	"errors"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestValidateTableArgs(t *testing.T) {
	for _, name := range []string{"temp", "a.b-c_d:1", strings.Repeat("x", MaxAppNameLen)} {
		if err := validateAppName(name); err != nil {
			t.Errorf("validateAppName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "a b", "a/b", "ä", strings.Repeat("x", MaxAppNameLen+1)} {
		if err := validateAppName(name); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("validateAppName(%q) = %v", name, err)
		}
	}
	for n := int32(1); n <= state.MaxPartitionCount; n *= 2 {
		if err := validatePartitionCount(n); err != nil {
			t.Errorf("partition count %d: %v", n, err)
		}
	}
	for _, n := range []int32{0, -1, 3, 6, 1000, 2048, -2147483648} {
		if err := validatePartitionCount(n); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("partition count %d accepted", n)
		}
	}
	if n, err := replicaCount(0); err != nil || n != DefaultReplicaCount {
		t.Errorf("replicaCount(0) = %d, %v", n, err)
	}
	for _, n := range []int32{-1, 6} {
		if _, err := replicaCount(n); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("replica count %d accepted", n)
		}
	}
	for _, a := range []string{"127.0.0.1:1", "host:34801"} {
		if err := validateNode(a); err != nil {
			t.Errorf("validateNode(%q) = %v", a, err)
		}
	}
	for _, a := range []string{"", "host", ":1", "host:"} {
		if err := validateNode(a); err == nil {
			t.Errorf("validateNode(%q) accepted", a)
		}
	}
}

func TestGarbage(t *testing.T) {
	g := func(app, pidx int32) protocol.Gpid { return protocol.Gpid{AppID: app, PartitionIndex: pidx} }
	cfg := func(app, pidx int32, primary string, drops ...string) state.Partition {
		return state.Partition{Config: protocol.PartitionConfiguration{Gpid: g(app, pidx), Primary: primary, LastDrops: drops}}
	}
	v := &state.View{NextAppID: 5, Apps: map[int32]*state.App{
		1: {Info: protocol.AppInfo{AppID: 1, Status: protocol.AppAvailable, PartitionCount: 3},
			Partitions: []state.Partition{cfg(1, 0, "me:1"), cfg(1, 1, "other:1"), cfg(1, 2, "", "me:1")}},
		2: {Info: protocol.AppInfo{AppID: 2, Status: protocol.AppDropped, PartitionCount: 1},
			Partitions: []state.Partition{cfg(2, 0, "me:1")}},
	}}
	tests := []struct {
		gpid   protocol.Gpid
		status protocol.PartitionStatus
		want   bool
	}{
		{g(1, 0), protocol.PartitionPrimary, false},  // primary here
		{g(1, 1), protocol.PartitionInactive, true},  // assigned elsewhere, not a last holder
		{g(1, 1), protocol.PartitionLearner, false},  // learning to join
		{g(1, 2), protocol.PartitionInactive, false}, // this node holds the data of a dropped primary
		{g(1, 3), protocol.PartitionInactive, true},  // no such partition
		{g(2, 0), protocol.PartitionInactive, false}, // dropped table in its hold period
		{g(3, 0), protocol.PartitionInactive, true},  // purged (id allocated here, table gone)
		{g(9, 0), protocol.PartitionInactive, false}, // never allocated here: not ours to delete
	}
	for _, tt := range tests {
		if got := garbage(v, protocol.ReplicaInfo{Gpid: tt.gpid, Status: tt.status}, "me:1"); got != tt.want {
			t.Errorf("garbage(%v, %v) = %v, want %v", tt.gpid, tt.status, got, tt.want)
		}
	}
}
