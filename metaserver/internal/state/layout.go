package state

import (
	"strconv"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// Layout names the nodes of one cluster under its root path.
type Layout struct {
	// Root is the cluster's root path in the store, e.g. "/onebox".
	Root string
}

// Apps is the parent of every app node.
func (l Layout) Apps() string { return coord.Join(l.Root, "apps") }

// App is the node of table id.
func (l Layout) App(id int32) string { return coord.Join(l.Apps(), strconv.Itoa(int(id))) }

// Partition is the node of partition pidx of table id.
func (l Layout) Partition(id, pidx int32) string {
	return coord.Join(l.App(id), strconv.Itoa(int(pidx)))
}

// PartitionDrops is the DDD evidence record of partition pidx of table id.
func (l Layout) PartitionDrops(id, pidx int32) string {
	return coord.Join(l.Partition(id, pidx), "drops")
}

// Duplications is the parent of table id's duplication records.
func (l Layout) Duplications(id int32) string { return coord.Join(l.App(id), "duplication") }

// Duplication is the record of duplication dupid of table id.
func (l Layout) Duplication(id, dupid int32) string {
	return coord.Join(l.Duplications(id), strconv.Itoa(int(dupid)))
}

// DupPartition is the progress record of partition pidx of duplication
// dupid of table id.
func (l Layout) DupPartition(id, dupid, pidx int32) string {
	return coord.Join(l.Duplication(id, dupid), strconv.Itoa(int(pidx)))
}

// Meta is the parent of the election and the app id counter.
func (l Layout) Meta() string { return coord.Join(l.Root, "meta") }

// Leader is the election path of the meta servers.
func (l Layout) Leader() string { return coord.Join(l.Meta(), "leader") }

// NextAppID is the app id counter.
func (l Layout) NextAppID() string { return coord.Join(l.Meta(), "next_app_id") }

// Nodes is the parent of the replica server records.
func (l Layout) Nodes() string { return coord.Join(l.Root, "nodes") }

// Node is the record of the replica server at addr.
func (l Layout) Node(addr string) string { return coord.Join(l.Nodes(), addr) }
