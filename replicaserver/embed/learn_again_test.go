package embed

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestLearnerLearnsAgain: a node that learned a partition once, was left
// out of it when the primary moved, and is added back as a learner by the
// new primary learns again and becomes a secondary. Regression: its finished learning task (started when the
// primary had no session for it, signature 0) matched the primary's group
// checks of the second addition (no session again, signature 0), so the
// task was taken for done and never restarted; the partition stayed
// without its third member until the meta's learn timeout moved the
// learner elsewhere (forever with three nodes). The robustness harness hit
// it after every fault that removed a replica which came back.
func TestLearnerLearnsAgain(t *testing.T) {
	cl := newCluster(t, 3)
	cl.create(0, 1)
	learner := cl.node(2)
	const size = 64
	w := cl.startWriter(cl.node(0), 0, size)
	waitFor(t, 30*time.Second, "20 acknowledged writes", func() (bool, string) {
		return w.ackedCount() >= 20, fmt.Sprint(w.ackedCount())
	})
	add := func(primary string, ballot protocol.Ballot, secondaries ...string) {
		t.Helper()
		cl.meta.propose(primary, &protocol.ConfigProposalRequest{Type: protocol.ConfigAddSecondary, Node: learner, App: cl.tb.app,
			Config: cl.meta.config(cl.gpid())})
		waitFor(t, 30*time.Second, fmt.Sprintf("the learner a secondary at ballot %d", ballot), func() (bool, string) {
			pc := cl.meta.config(cl.gpid())
			return pc.Ballot == ballot && slices.Equal(pc.Secondaries, secondaries), fmt.Sprintf("%+v", pc)
		})
	}
	add(cl.node(0), 2, cl.node(1), learner)
	acked := w.halt()
	// The meta moves the primary to node 1 and leaves node 2 out (as it
	// does when node 2 was cut off); then node 1 adds it back.
	cl.meta.assign(protocol.PartitionConfiguration{Gpid: cl.gpid(), Ballot: 3, Primary: cl.node(1),
		Secondaries: []string{cl.node(0)}, LastDrops: []string{learner}, MaxReplicaCount: cl.tb.app.ReplicaCount})
	add(cl.node(1), 4, cl.node(0), learner)
	cl.readAll(cl.node(1), acked, size)
	cl.waitSameData(0, 1, 2)
}
