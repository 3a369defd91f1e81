package embed

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/failpoint"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestLearnerReplacesFailedReplica: a secondary whose plog write fails
// (failpoint) is removed from the group, and its replica fails (PS_ERROR)
// on its server. Once the disk is healthy again, the partition
// can add that server back as a learner: it catches up and becomes a
// secondary again with the same data (the robustness harness's
// plog-write-error fault in-process).
func TestLearnerReplacesFailedReplica(t *testing.T) {
	cl := newCluster(t, 3)
	reg := failpoint.New()
	cl.stop(2)
	cfg := cl.config(2)
	cfg.Failpoints = reg
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.servers[2] = s
	cl.create(0, 1, 2)
	primary, failing := cl.node(0), cl.node(2)
	const size = 64
	w := cl.startWriter(primary, 0, size)
	waitFor(t, 30*time.Second, "50 acknowledged writes", func() (bool, string) {
		return w.ackedCount() >= 50, fmt.Sprint(w.ackedCount())
	})
	if err := reg.Set(failpoint.PlogWriteError, "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "removal of the failed secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 2 && slices.Equal(pc.Secondaries, []string{cl.node(1)}), fmt.Sprintf("%+v", pc)
	})
	// The failed replica reports PS_ERROR until the configuration without
	// it reaches its server, which closes it.
	if v, ok := cl.info(2); ok && v.Role != protocol.PartitionError.String() {
		t.Fatalf("the replica whose plog failed reports %+v, want PS_ERROR or closed", v)
	}
	if err := reg.Set(failpoint.PlogWriteError, ""); err != nil {
		t.Fatal(err)
	}
	cl.meta.propose(primary, &protocol.ConfigProposalRequest{Type: protocol.ConfigAddSecondary, Node: failing, App: cl.tb.app,
		Config: cl.meta.config(cl.gpid())})
	waitFor(t, 30*time.Second, "the failed node back as a secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 3 && slices.Equal(pc.Secondaries, []string{cl.node(1), failing}), fmt.Sprintf("%+v", pc)
	})
	acked := w.halt()
	cl.readAll(primary, acked, size)
	cl.waitSameData(0, 1, 2)
}
