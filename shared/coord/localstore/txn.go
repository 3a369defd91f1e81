package localstore

import "github.com/pegasus-go/pegasus/shared/coord"

// txn stages one transaction over the on-disk tree. Ops see the effects of
// earlier ops of the same transaction; nothing reaches the disk until
// commit. It is used by one goroutine holding the exclusive store lock.
type txn struct {
	d     *disk
	zxid  int64 // number of this transaction
	nowMs int64
	nodes map[string]*tnode // staged nodes by absolute path
	acts  []action
}

type tnode struct {
	exists bool
	meta   nodeMeta
}

func newTxn(d *disk, zxid, nowMs int64) *txn {
	return &txn{d: d, zxid: zxid, nowMs: nowMs, nodes: map[string]*tnode{}}
}

func (t *txn) get(abs string) (*tnode, error) {
	if n, ok := t.nodes[abs]; ok {
		return n, nil
	}
	m, ok, err := t.d.readMeta(abs)
	if err != nil {
		return nil, err
	}
	n := &tnode{exists: ok, meta: m}
	t.nodes[abs] = n
	return n, nil
}

func (t *txn) writeMeta(abs string, n *tnode) {
	m := n.meta
	t.acts = append(t.acts, action{Path: abs, Meta: &m})
}

func checkVersion(n *tnode, version int32) error {
	if version != coord.AnyVersion && version != n.meta.Version {
		return coord.ErrBadVersion
	}
	return nil
}

// create makes abs (with a sequence suffix for Sequential) and returns the
// created absolute path.
func (t *txn) create(abs string, data []byte, mode coord.Mode, owner int64) (string, error) {
	pabs := coord.Parent(abs)
	parent, err := t.get(pabs)
	if err != nil {
		return "", err
	}
	if !parent.exists {
		return "", coord.ErrNoNode
	}
	if parent.meta.Owner != 0 {
		return "", coord.ErrNoChildrenForEphemerals
	}
	if mode&coord.Sequential != 0 {
		abs = coord.SequenceName(abs, parent.meta.CVersion)
	}
	n, err := t.get(abs)
	if err != nil {
		return "", err
	}
	if n.exists {
		return "", coord.ErrNodeExists
	}
	n.exists = true
	n.meta = nodeMeta{Czxid: t.zxid, Mzxid: t.zxid, Pzxid: t.zxid, CtimeMs: t.nowMs, MtimeMs: t.nowMs}
	if mode&coord.Ephemeral != 0 {
		n.meta.Owner = owner
	}
	m := n.meta
	t.acts = append(t.acts, action{Path: abs, Meta: &m, HasData: true, Data: data})
	parent.meta.CVersion++
	parent.meta.NumChildren++
	parent.meta.Pzxid = t.zxid
	t.writeMeta(pabs, parent)
	return abs, nil
}

// set replaces abs's data and returns its new metadata.
func (t *txn) set(abs string, data []byte, version int32) (nodeMeta, error) {
	n, err := t.get(abs)
	if err != nil {
		return nodeMeta{}, err
	}
	if !n.exists {
		return nodeMeta{}, coord.ErrNoNode
	}
	if err := checkVersion(n, version); err != nil {
		return nodeMeta{}, err
	}
	n.meta.Version++
	n.meta.Mzxid = t.zxid
	n.meta.MtimeMs = t.nowMs
	m := n.meta
	t.acts = append(t.acts, action{Path: abs, Meta: &m, HasData: true, Data: data})
	return m, nil
}

// remove deletes abs.
func (t *txn) remove(abs string, version int32) error {
	n, err := t.get(abs)
	if err != nil {
		return err
	}
	if !n.exists {
		return coord.ErrNoNode
	}
	if err := checkVersion(n, version); err != nil {
		return err
	}
	if n.meta.NumChildren > 0 {
		return coord.ErrNotEmpty
	}
	n.exists = false
	n.meta = nodeMeta{}
	t.acts = append(t.acts, action{Path: abs, Remove: true})
	pabs := coord.Parent(abs)
	parent, err := t.get(pabs)
	if err != nil {
		return err
	}
	parent.meta.CVersion++
	parent.meta.NumChildren--
	parent.meta.Pzxid = t.zxid
	t.writeMeta(pabs, parent)
	return nil
}

// check requires abs to exist with a matching version.
func (t *txn) check(abs string, version int32) error {
	n, err := t.get(abs)
	if err != nil {
		return err
	}
	if !n.exists {
		return coord.ErrNoNode
	}
	return checkVersion(n, version)
}

// ensure creates abs and its missing ancestors as empty persistent nodes.
func (t *txn) ensure(abs string) error {
	if abs == "/" {
		return nil
	}
	if err := t.ensure(coord.Parent(abs)); err != nil {
		return err
	}
	n, err := t.get(abs)
	if err != nil {
		return err
	}
	if n.exists {
		return nil
	}
	_, err = t.create(abs, nil, coord.Persistent, 0)
	return err
}
