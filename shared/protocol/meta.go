package protocol

// Meta API (service Meta): table management, routing queries, node and
// cluster information. Clients, admincli, metaproxy and the collector call
// it on the meta leader; a follower fails every call with
// CodeForwardToOthers and the leader's address as the error message.
// Node addresses are "host:port" strings.

// CreateAppRequest creates a table. PartitionCount must be a power of two;
// ReplicaCount is the number of replicas per partition (usually 3).
type CreateAppRequest struct {
	Name           string
	PartitionCount int32
	ReplicaCount   int32
	Envs           map[string]string
}

// AppendBinary implements Message.
func (m *CreateAppRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = AppendString(b, m.Name)
	b = AppendVarint(b, int64(m.PartitionCount))
	b = AppendVarint(b, int64(m.ReplicaCount))
	return appendStringMap(b, m.Envs), nil
}

// UnmarshalBinary implements Message.
func (m *CreateAppRequest) UnmarshalBinary(data []byte) error {
	*m = CreateAppRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Name = d.String()
	m.PartitionCount = d.Int32()
	m.ReplicaCount = d.Int32()
	m.Envs = decodeStringMap(d)
	return d.Finish()
}

// CreateAppResponse carries the new table's id. The call returns once the
// table is created in the store; partitions become available shortly after
// (poll QueryConfig).
type CreateAppResponse struct {
	AppID int32
}

// AppendBinary implements Message.
func (m *CreateAppResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendVarint(append(b, formatV1), int64(m.AppID)), nil
}

// UnmarshalBinary implements Message.
func (m *CreateAppResponse) UnmarshalBinary(data []byte) error {
	*m = CreateAppResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppID = d.Int32()
	return d.Finish()
}

// DropAppRequest drops a table. It stays recallable for ReserveSeconds
// (<= 0: the meta server's default hold time).
type DropAppRequest struct {
	Name           string
	ReserveSeconds int64
}

// AppendBinary implements Message.
func (m *DropAppRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.Name)
	return AppendVarint(b, m.ReserveSeconds), nil
}

// UnmarshalBinary implements Message.
func (m *DropAppRequest) UnmarshalBinary(data []byte) error {
	*m = DropAppRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Name = d.String()
	m.ReserveSeconds = d.Varint()
	return d.Finish()
}

// DropAppResponse acknowledges DropApp.
type DropAppResponse struct{}

// AppendBinary implements Message.
func (m *DropAppResponse) AppendBinary(b []byte) ([]byte, error) { return append(b, formatV1), nil }

// UnmarshalBinary implements Message.
func (m *DropAppResponse) UnmarshalBinary(data []byte) error { return decodeEmpty(data) }

// RecallAppRequest restores a dropped table by id, under NewName (empty:
// its old name).
type RecallAppRequest struct {
	AppID   int32
	NewName string
}

// AppendBinary implements Message.
func (m *RecallAppRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendVarint(append(b, formatV1), int64(m.AppID))
	return AppendString(b, m.NewName), nil
}

// UnmarshalBinary implements Message.
func (m *RecallAppRequest) UnmarshalBinary(data []byte) error {
	*m = RecallAppRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppID = d.Int32()
	m.NewName = d.String()
	return d.Finish()
}

// RecallAppResponse describes the recalled table.
type RecallAppResponse struct {
	App AppInfo
}

// AppendBinary implements Message.
func (m *RecallAppResponse) AppendBinary(b []byte) ([]byte, error) {
	if err := checkAppInfo(&m.App); err != nil {
		return b, err
	}
	return appendAppInfo(append(b, formatV1), &m.App), nil
}

// UnmarshalBinary implements Message.
func (m *RecallAppResponse) UnmarshalBinary(data []byte) error {
	*m = RecallAppResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeAppInfo(d, &m.App)
	return d.Finish()
}

// ListAppsRequest lists tables; Status AppInvalid lists every status.
type ListAppsRequest struct {
	Status AppStatus
}

// AppendBinary implements Message.
func (m *ListAppsRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.Status.Valid() {
		return b, encodeError("app status %d", m.Status)
	}
	return append(b, formatV1, byte(m.Status)), nil
}

// UnmarshalBinary implements Message.
func (m *ListAppsRequest) UnmarshalBinary(data []byte) error {
	*m = ListAppsRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Status = AppStatus(d.Byte())
	if !m.Status.Valid() {
		d.Fail("unknown app status %d", m.Status)
	}
	return d.Finish()
}

// ListAppsResponse holds the matching tables, ordered by app id.
type ListAppsResponse struct {
	Apps []AppInfo
}

// AppendBinary implements Message.
func (m *ListAppsResponse) AppendBinary(b []byte) ([]byte, error) {
	if err := checkAppInfos(m.Apps); err != nil {
		return b, err
	}
	return appendAppInfos(append(b, formatV1), m.Apps), nil
}

// UnmarshalBinary implements Message.
func (m *ListAppsResponse) UnmarshalBinary(data []byte) error {
	*m = ListAppsResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Apps = decodeAppInfos(d)
	return d.Finish()
}

// QueryConfigRequest asks for a table's partition configurations, by
// AppName, or by AppID when AppName is empty. Clients use the answer to
// route requests to primaries.
type QueryConfigRequest struct {
	AppName string
	AppID   int32
}

// AppendBinary implements Message.
func (m *QueryConfigRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.AppName)
	return AppendVarint(b, int64(m.AppID)), nil
}

// UnmarshalBinary implements Message.
func (m *QueryConfigRequest) UnmarshalBinary(data []byte) error {
	*m = QueryConfigRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	m.AppID = d.Int32()
	return d.Finish()
}

// QueryConfigResponse holds the table and one configuration per
// partition, ordered by partition index.
type QueryConfigResponse struct {
	App        AppInfo
	Partitions []PartitionConfiguration
	// Learners names, per partition in the order of Partitions, the node
	// currently learning to become a secondary ("" for none). It may be
	// shorter than Partitions (nil: no learner anywhere).
	Learners []string
}

// AppendBinary implements Message.
func (m *QueryConfigResponse) AppendBinary(b []byte) ([]byte, error) {
	if err := checkAppInfo(&m.App); err != nil {
		return b, err
	}
	b = appendAppInfo(append(b, formatV1), &m.App)
	b = appendPartitionConfigs(b, m.Partitions)
	return appendStringList(b, m.Learners), nil
}

// UnmarshalBinary implements Message.
func (m *QueryConfigResponse) UnmarshalBinary(data []byte) error {
	*m = QueryConfigResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeAppInfo(d, &m.App)
	m.Partitions = decodePartitionConfigs(d)
	m.Learners = decodeStringList(d)
	return d.Finish()
}

// ListNodesRequest lists replica servers; Status NodeInvalid lists all.
type ListNodesRequest struct {
	Status NodeStatus
}

// AppendBinary implements Message.
func (m *ListNodesRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.Status.Valid() {
		return b, encodeError("node status %d", m.Status)
	}
	return append(b, formatV1, byte(m.Status)), nil
}

// UnmarshalBinary implements Message.
func (m *ListNodesRequest) UnmarshalBinary(data []byte) error {
	*m = ListNodesRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Status = decodeNodeStatus(d)
	return d.Finish()
}

func decodeNodeStatus(d *Decoder) NodeStatus {
	s := NodeStatus(d.Byte())
	if !s.Valid() {
		d.Fail("unknown node status %d", s)
	}
	return s
}

// ListNodesResponse holds the matching nodes, ordered by address.
type ListNodesResponse struct {
	Nodes []NodeInfo
}

// AppendBinary implements Message.
func (m *ListNodesResponse) AppendBinary(b []byte) ([]byte, error) {
	for i := range m.Nodes {
		if !m.Nodes[i].Status.Valid() {
			return b, encodeError("node status %d", m.Nodes[i].Status)
		}
	}
	b = append(b, formatV1)
	b = AppendUvarint(b, uint64(len(m.Nodes)))
	for i := range m.Nodes {
		n := &m.Nodes[i]
		b = AppendString(b, n.Address)
		b = append(b, byte(n.Status))
		b = AppendVarint(b, int64(n.PrimaryCount))
		b = AppendVarint(b, int64(n.SecondaryCount))
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *ListNodesResponse) UnmarshalBinary(data []byte) error {
	*m = ListNodesResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	if n := d.Len(4); n > 0 {
		m.Nodes = make([]NodeInfo, n)
		for i := range m.Nodes {
			nd := &m.Nodes[i]
			nd.Address = d.String()
			nd.Status = decodeNodeStatus(d)
			nd.PrimaryCount = d.Int32()
			nd.SecondaryCount = d.Int32()
		}
	}
	return d.Finish()
}

// SetAppEnvsRequest sets (adds or overwrites) table envs.
type SetAppEnvsRequest struct {
	AppName string
	Envs    map[string]string
}

// AppendBinary implements Message.
func (m *SetAppEnvsRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.AppName)
	return appendStringMap(b, m.Envs), nil
}

// UnmarshalBinary implements Message.
func (m *SetAppEnvsRequest) UnmarshalBinary(data []byte) error {
	*m = SetAppEnvsRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	m.Envs = decodeStringMap(d)
	return d.Finish()
}

// SetAppEnvsResponse acknowledges SetAppEnvs.
type SetAppEnvsResponse struct{}

// AppendBinary implements Message.
func (m *SetAppEnvsResponse) AppendBinary(b []byte) ([]byte, error) {
	return append(b, formatV1), nil
}

// UnmarshalBinary implements Message.
func (m *SetAppEnvsResponse) UnmarshalBinary(data []byte) error { return decodeEmpty(data) }

// GetAppEnvsRequest reads a table's envs.
type GetAppEnvsRequest struct {
	AppName string
}

// AppendBinary implements Message.
func (m *GetAppEnvsRequest) AppendBinary(b []byte) ([]byte, error) {
	return AppendString(append(b, formatV1), m.AppName), nil
}

// UnmarshalBinary implements Message.
func (m *GetAppEnvsRequest) UnmarshalBinary(data []byte) error {
	*m = GetAppEnvsRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	return d.Finish()
}

// GetAppEnvsResponse holds a table's envs.
type GetAppEnvsResponse struct {
	Envs map[string]string
}

// AppendBinary implements Message.
func (m *GetAppEnvsResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendStringMap(append(b, formatV1), m.Envs), nil
}

// UnmarshalBinary implements Message.
func (m *GetAppEnvsResponse) UnmarshalBinary(data []byte) error {
	*m = GetAppEnvsResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Envs = decodeStringMap(d)
	return d.Finish()
}

// DelAppEnvsRequest deletes table envs: the listed Keys, every key starting
// with ClearPrefix when it is not empty, and every key when ClearAll is set.
// Deleting a missing key succeeds.
type DelAppEnvsRequest struct {
	AppName     string
	Keys        []string
	ClearPrefix string
	ClearAll    bool
}

// AppendBinary implements Message.
func (m *DelAppEnvsRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.AppName)
	b = appendStringList(b, m.Keys)
	b = AppendString(b, m.ClearPrefix)
	return AppendBool(b, m.ClearAll), nil
}

// UnmarshalBinary implements Message.
func (m *DelAppEnvsRequest) UnmarshalBinary(data []byte) error {
	*m = DelAppEnvsRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	m.Keys = decodeStringList(d)
	m.ClearPrefix = d.String()
	m.ClearAll = d.Bool()
	return d.Finish()
}

// DelAppEnvsResponse lists the keys that existed and were deleted.
type DelAppEnvsResponse struct {
	Deleted []string
}

// AppendBinary implements Message.
func (m *DelAppEnvsResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendStringList(append(b, formatV1), m.Deleted), nil
}

// UnmarshalBinary implements Message.
func (m *DelAppEnvsResponse) UnmarshalBinary(data []byte) error {
	*m = DelAppEnvsResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Deleted = decodeStringList(d)
	return d.Finish()
}

// ClusterInfoRequest asks for a cluster summary.
type ClusterInfoRequest struct{}

// AppendBinary implements Message.
func (m *ClusterInfoRequest) AppendBinary(b []byte) ([]byte, error) {
	return append(b, formatV1), nil
}

// UnmarshalBinary implements Message.
func (m *ClusterInfoRequest) UnmarshalBinary(data []byte) error { return decodeEmpty(data) }

// ClusterInfoResponse summarizes the cluster as the meta leader sees it.
type ClusterInfoResponse struct {
	ClusterName    string
	MetaLeader     string   // the answering leader's address
	MetaServers    []string // every configured meta server
	ZookeeperHosts string   // the coordination store's address list
	ZookeeperRoot  string   // the cluster's root node in the store
	AliveNodes     int32
	DeadNodes      int32
	AppCount       int32 // tables in status AppAvailable
}

// AppendBinary implements Message.
func (m *ClusterInfoResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = AppendString(b, m.ClusterName)
	b = AppendString(b, m.MetaLeader)
	b = appendStringList(b, m.MetaServers)
	b = AppendString(b, m.ZookeeperHosts)
	b = AppendString(b, m.ZookeeperRoot)
	b = AppendVarint(b, int64(m.AliveNodes))
	b = AppendVarint(b, int64(m.DeadNodes))
	return AppendVarint(b, int64(m.AppCount)), nil
}

// UnmarshalBinary implements Message.
func (m *ClusterInfoResponse) UnmarshalBinary(data []byte) error {
	*m = ClusterInfoResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.ClusterName = d.String()
	m.MetaLeader = d.String()
	m.MetaServers = decodeStringList(d)
	m.ZookeeperHosts = d.String()
	m.ZookeeperRoot = d.String()
	m.AliveNodes = d.Int32()
	m.DeadNodes = d.Int32()
	m.AppCount = d.Int32()
	return d.Finish()
}
