package embed

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestLearnerOfEmptyPartitionBecomesSecondary: a learner added to a partition that never
// committed a write (a lone primary of a 3-replica table cannot write)
// becomes a secondary. Regression: the primary answered every round of a
// learner at decree 0 with a checkpoint, the learner installed it and was
// still at decree 0, so it copied the empty checkpoint forever and the
// table created while only one replica server was up never got its
// secondaries.
func TestLearnerOfEmptyPartitionBecomesSecondary(t *testing.T) {
	cl := newCluster(t, 2)
	cl.create(0)
	primary, learner := cl.node(0), cl.node(1)
	cl.meta.propose(primary, &protocol.ConfigProposalRequest{Type: protocol.ConfigAddSecondary, Node: learner, App: cl.tb.app,
		Config: cl.meta.config(cl.gpid())})
	waitFor(t, 30*time.Second, "the learner upgraded to secondary", func() (bool, string) {
		pc := cl.meta.config(cl.gpid())
		return pc.Ballot == 2 && slices.Equal(pc.Secondaries, []string{learner}), fmt.Sprintf("%+v", pc)
	})
	views := cl.servers[1].srv.Learning().Learners
	if len(views) != 1 || views[0].Phase != "done" || views[0].Installs > 1 {
		t.Fatalf("learner tasks %+v: want one, done, with at most one checkpoint installed", views)
	}
}
