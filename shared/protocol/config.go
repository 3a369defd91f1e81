package protocol

import "fmt"

// Cluster-state types shared by the meta API, the replica<->meta messages
// and the replica<->replica messages. Enum values are part of the wire
// format: never renumber, only add (and extend the matching Valid method).

// AppStatus is the lifecycle state of a table, with Pegasus's names.
type AppStatus uint8

const (
	AppInvalid      AppStatus = 0 // unset; as a ListApps filter it means "any status"
	AppAvailable    AppStatus = 1 // serving
	AppCreating     AppStatus = 2 // partitions are being assigned
	AppCreateFailed AppStatus = 3 // creation failed; the table is unusable
	AppDropping     AppStatus = 4 // drop in progress
	AppDropFailed   AppStatus = 5 // drop failed
	AppDropped      AppStatus = 6 // dropped, recallable until its expire time
	AppRecalling    AppStatus = 7 // recall in progress
)

var appStatusNames = [...]string{"AS_INVALID", "AS_AVAILABLE", "AS_CREATING", "AS_CREATE_FAILED",
	"AS_DROPPING", "AS_DROP_FAILED", "AS_DROPPED", "AS_RECALLING"}

// Valid reports whether s is a known status.
func (s AppStatus) Valid() bool { return s <= AppRecalling }

// String returns the Pegasus name, e.g. AS_AVAILABLE.
func (s AppStatus) String() string { return enumName(appStatusNames[:], uint8(s), "AS") }

// PartitionStatus is the role a replica plays in its partition.
type PartitionStatus uint8

const (
	PartitionInactive  PartitionStatus = 0 // not serving (just opened, or removed from the group)
	PartitionError     PartitionStatus = 1 // failed; waits to be closed
	PartitionPrimary   PartitionStatus = 2 // primary: orders writes, serves reads
	PartitionSecondary PartitionStatus = 3 // secondary: logs and applies the primary's prepares
	PartitionLearner   PartitionStatus = 4 // potential secondary, catching up by learning
)

var partitionStatusNames = [...]string{"PS_INACTIVE", "PS_ERROR", "PS_PRIMARY", "PS_SECONDARY",
	"PS_POTENTIAL_SECONDARY"}

// Valid reports whether s is a known status.
func (s PartitionStatus) Valid() bool { return s <= PartitionLearner }

// String returns the Pegasus name, e.g. PS_PRIMARY.
func (s PartitionStatus) String() string {
	return enumName(partitionStatusNames[:], uint8(s), "PS")
}

// NodeStatus is the meta server's view of a replica server.
type NodeStatus uint8

const (
	NodeInvalid NodeStatus = 0 // unset; as a ListNodes filter it means "any status"
	NodeAlive   NodeStatus = 1 // beaconing within its lease
	NodeDead    NodeStatus = 2 // lease and grace period expired
)

var nodeStatusNames = [...]string{"NS_INVALID", "NS_ALIVE", "NS_UNALIVE"}

// Valid reports whether s is a known status.
func (s NodeStatus) Valid() bool { return s <= NodeDead }

// String returns the Pegasus name, e.g. NS_ALIVE.
func (s NodeStatus) String() string { return enumName(nodeStatusNames[:], uint8(s), "NS") }

// ConfigType is the kind of a partition configuration change.
type ConfigType uint8

const (
	ConfigInvalid                  ConfigType = 0  // unset
	ConfigAssignPrimary            ConfigType = 1  // meta: make Node primary of a partition without one
	ConfigUpgradeToPrimary         ConfigType = 2  // meta: promote secondary Node to primary
	ConfigAddSecondary             ConfigType = 3  // meta -> primary: start learning Node as a new secondary
	ConfigUpgradeToSecondary       ConfigType = 4  // primary: learner Node finished learning
	ConfigDowngradeToSecondary     ConfigType = 5  // meta: primary Node steps down to secondary
	ConfigDowngradeToInactive      ConfigType = 6  // primary or meta: drop Node from the group, keep its data
	ConfigRemove                   ConfigType = 7  // meta: remove Node's replica entirely
	ConfigAddSecondaryForLB        ConfigType = 8  // meta -> primary: add Node for load balancing
	ConfigPrimaryForceUpdateBallot ConfigType = 9  // primary: bump the ballot without a member change
	ConfigDropPartition            ConfigType = 10 // meta: the table was dropped
)

var configTypeNames = [...]string{"CT_INVALID", "CT_ASSIGN_PRIMARY", "CT_UPGRADE_TO_PRIMARY",
	"CT_ADD_SECONDARY", "CT_UPGRADE_TO_SECONDARY", "CT_DOWNGRADE_TO_SECONDARY",
	"CT_DOWNGRADE_TO_INACTIVE", "CT_REMOVE", "CT_ADD_SECONDARY_FOR_LB",
	"CT_PRIMARY_FORCE_UPDATE_BALLOT", "CT_DROP_PARTITION"}

// Valid reports whether t is a known type.
func (t ConfigType) Valid() bool { return t <= ConfigDropPartition }

// String returns the Pegasus name, e.g. CT_ADD_SECONDARY.
func (t ConfigType) String() string { return enumName(configTypeNames[:], uint8(t), "CT") }

// LearnType says what a learner must fetch.
type LearnType uint8

const (
	LearnInvalid          LearnType = 0 // unset
	LearnCheckpoint       LearnType = 1 // copy the checkpoint files only
	LearnLog              LearnType = 2 // replay the mutations (and plog files) only
	LearnCheckpointAndLog LearnType = 3 // copy the checkpoint, then replay the mutations after it
)

var learnTypeNames = [...]string{"LT_INVALID", "LT_APP", "LT_LOG", "LT_APP_AND_LOG"}

// Valid reports whether t is a known type.
func (t LearnType) Valid() bool { return t <= LearnCheckpointAndLog }

// String returns the name, e.g. LT_APP.
func (t LearnType) String() string { return enumName(learnTypeNames[:], uint8(t), "LT") }

func enumName(names []string, v uint8, prefix string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s_%d", prefix, v)
}

// AppInfo describes a table. Times are milliseconds since the Unix epoch on
// the meta server's clock; 0 means "not set".
type AppInfo struct {
	AppID          int32
	Name           string
	Status         AppStatus
	PartitionCount int32
	ReplicaCount   int32 // the configured number of replicas per partition
	Envs           map[string]string
	CreateTimeMs   int64
	DropTimeMs     int64 // when the table was dropped
	ExpireTimeMs   int64 // when a dropped table is purged and can no longer be recalled
}

const appInfoMinSize = 9

func appendAppInfo(b []byte, a *AppInfo) []byte {
	b = AppendVarint(b, int64(a.AppID))
	b = AppendString(b, a.Name)
	b = append(b, byte(a.Status))
	b = AppendVarint(b, int64(a.PartitionCount))
	b = AppendVarint(b, int64(a.ReplicaCount))
	b = appendStringMap(b, a.Envs)
	b = AppendVarint(b, a.CreateTimeMs)
	b = AppendVarint(b, a.DropTimeMs)
	b = AppendVarint(b, a.ExpireTimeMs)
	return b
}

func decodeAppInfo(d *Decoder, a *AppInfo) {
	a.AppID = d.Int32()
	a.Name = d.String()
	a.Status = AppStatus(d.Byte())
	if !a.Status.Valid() {
		d.Fail("unknown app status %d", a.Status)
	}
	a.PartitionCount = d.Int32()
	a.ReplicaCount = d.Int32()
	a.Envs = decodeStringMap(d)
	a.CreateTimeMs = d.Varint()
	a.DropTimeMs = d.Varint()
	a.ExpireTimeMs = d.Varint()
}

func checkAppInfo(a *AppInfo) error {
	if !a.Status.Valid() {
		return encodeError("app status %d", a.Status)
	}
	return nil
}

func appendAppInfos(b []byte, l []AppInfo) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for i := range l {
		b = appendAppInfo(b, &l[i])
	}
	return b
}

func decodeAppInfos(d *Decoder) []AppInfo {
	n := d.Len(appInfoMinSize)
	if n == 0 {
		return nil
	}
	out := make([]AppInfo, n)
	for i := range out {
		decodeAppInfo(d, &out[i])
	}
	return out
}

func checkAppInfos(l []AppInfo) error {
	for i := range l {
		if err := checkAppInfo(&l[i]); err != nil {
			return err
		}
	}
	return nil
}

// PartitionConfiguration is the membership of one partition as the meta
// server stores it. Every change increases Ballot. Node addresses are
// "host:port"; an empty Primary means the partition has none.
type PartitionConfiguration struct {
	Gpid                Gpid
	Ballot              Ballot
	Primary             string
	Secondaries         []string
	LastDrops           []string // replicas most recently removed, oldest first (for DDD recovery)
	LastCommittedDecree Decree
	MaxReplicaCount     int32
}

const partitionConfigMinSize = 8

func appendGpid(b []byte, g Gpid) []byte {
	b = AppendVarint(b, int64(g.AppID))
	return AppendVarint(b, int64(g.PartitionIndex))
}

func gpidSize(g Gpid) int { return varintSize(int64(g.AppID)) + varintSize(int64(g.PartitionIndex)) }

func decodeGpid(d *Decoder) Gpid {
	return Gpid{AppID: d.Int32(), PartitionIndex: d.Int32()}
}

func appendGpids(b []byte, l []Gpid) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for _, g := range l {
		b = appendGpid(b, g)
	}
	return b
}

func decodeGpids(d *Decoder) []Gpid {
	n := d.Len(2)
	if n == 0 {
		return nil
	}
	out := make([]Gpid, n)
	for i := range out {
		out[i] = decodeGpid(d)
	}
	return out
}

func appendPartitionConfig(b []byte, c *PartitionConfiguration) []byte {
	b = appendGpid(b, c.Gpid)
	b = AppendVarint(b, int64(c.Ballot))
	b = AppendString(b, c.Primary)
	b = appendStringList(b, c.Secondaries)
	b = appendStringList(b, c.LastDrops)
	b = AppendVarint(b, int64(c.LastCommittedDecree))
	b = AppendVarint(b, int64(c.MaxReplicaCount))
	return b
}

func partitionConfigSize(c *PartitionConfiguration) int {
	n := gpidSize(c.Gpid) + varintSize(int64(c.Ballot)) + stringSize(c.Primary)
	n += uvarintSize(uint64(len(c.Secondaries)))
	for _, s := range c.Secondaries {
		n += stringSize(s)
	}
	n += uvarintSize(uint64(len(c.LastDrops)))
	for _, s := range c.LastDrops {
		n += stringSize(s)
	}
	return n + varintSize(int64(c.LastCommittedDecree)) + varintSize(int64(c.MaxReplicaCount))
}

func decodePartitionConfig(d *Decoder, c *PartitionConfiguration) {
	c.Gpid = decodeGpid(d)
	c.Ballot = Ballot(d.Varint())
	c.Primary = d.String()
	c.Secondaries = decodeStringList(d)
	c.LastDrops = decodeStringList(d)
	c.LastCommittedDecree = Decree(d.Varint())
	c.MaxReplicaCount = d.Int32()
}

func appendPartitionConfigs(b []byte, l []PartitionConfiguration) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for i := range l {
		b = appendPartitionConfig(b, &l[i])
	}
	return b
}

func decodePartitionConfigs(d *Decoder) []PartitionConfiguration {
	n := d.Len(partitionConfigMinSize)
	if n == 0 {
		return nil
	}
	out := make([]PartitionConfiguration, n)
	for i := range out {
		decodePartitionConfig(d, &out[i])
	}
	return out
}

// NodeInfo is one replica server as the meta server sees it.
type NodeInfo struct {
	Address        string // "host:port"
	Status         NodeStatus
	PrimaryCount   int32 // partitions this node is primary of
	SecondaryCount int32 // partitions this node is secondary of
}

// ReplicaInfo is what a replica server reports about one replica it serves.
type ReplicaInfo struct {
	Gpid          Gpid
	Ballot        Ballot
	Status        PartitionStatus
	LastCommitted Decree
	LastPrepared  Decree
	LastDurable   Decree // last decree flushed to the storage engine
}

const replicaInfoMinSize = 7

// DuplicationConfirm is the last decree of one duplication that the remote
// cluster has confirmed, as the primary tells its secondaries so that plog
// garbage collection keeps everything not yet shipped.
type DuplicationConfirm struct {
	DupID           int32
	ConfirmedDecree Decree
}
