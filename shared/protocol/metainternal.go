package protocol

// Replica <-> meta messages. Replica servers call service MetaInternal on
// the meta leader (Beacon, ConfigSync, UpdateConfiguration); the meta leader
// calls service ReplicaControl on replica servers (ConfigProposal).

// BeaconRequest is a replica server's periodic heartbeat. It carries no
// ballot: it renews the node's lease, not any partition's.
type BeaconRequest struct {
	Node        string // the sender's "host:port"
	StartTimeMs int64  // when the sender's process started (Unix ms); a change means a restart
	SendTimeMs  int64  // the sender's clock when it sent this beacon, echoed in the response
}

// AppendBinary implements Message.
func (m *BeaconRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.Node)
	b = AppendVarint(b, m.StartTimeMs)
	return AppendVarint(b, m.SendTimeMs), nil
}

// UnmarshalBinary implements Message.
func (m *BeaconRequest) UnmarshalBinary(data []byte) error {
	*m = BeaconRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Node = d.String()
	m.StartTimeMs = d.Varint()
	m.SendTimeMs = d.Varint()
	return d.Finish()
}

// BeaconResponse grants or refuses a lease. LeaseMs is the lease length in
// milliseconds counted from the request's send time: the replica server
// holds the lease until its own clock reads SendTimeMs + LeaseMs (the meta
// started counting no earlier than that, so clock offsets do not matter,
// only rate drift, which the meta's grace period covers). LeaseMs 0 means no
// lease was granted (e.g. the answering meta is not the leader). MetaLeader
// is the current leader's address, "" if unknown.
type BeaconResponse struct {
	SendTimeMs int64 // echoed from the request
	LeaseMs    int64
	MetaLeader string
}

// AppendBinary implements Message.
func (m *BeaconResponse) AppendBinary(b []byte) ([]byte, error) {
	b = AppendVarint(append(b, formatV1), m.SendTimeMs)
	b = AppendVarint(b, m.LeaseMs)
	return AppendString(b, m.MetaLeader), nil
}

// UnmarshalBinary implements Message.
func (m *BeaconResponse) UnmarshalBinary(data []byte) error {
	*m = BeaconResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.SendTimeMs = d.Varint()
	m.LeaseMs = d.Varint()
	m.MetaLeader = d.String()
	return d.Finish()
}

func appendReplicaInfo(b []byte, r *ReplicaInfo) []byte {
	b = appendGpid(b, r.Gpid)
	b = AppendVarint(b, int64(r.Ballot))
	b = append(b, byte(r.Status))
	b = AppendVarint(b, int64(r.LastCommitted))
	b = AppendVarint(b, int64(r.LastPrepared))
	return AppendVarint(b, int64(r.LastDurable))
}

func decodeReplicaInfo(d *Decoder, r *ReplicaInfo) {
	r.Gpid = decodeGpid(d)
	r.Ballot = Ballot(d.Varint())
	r.Status = decodePartitionStatus(d)
	r.LastCommitted = Decree(d.Varint())
	r.LastPrepared = Decree(d.Varint())
	r.LastDurable = Decree(d.Varint())
}

func decodePartitionStatus(d *Decoder) PartitionStatus {
	s := PartitionStatus(d.Byte())
	if !s.Valid() {
		d.Fail("unknown partition status %d", s)
	}
	return s
}

// ConfigSyncRequest reports every replica a node serves, so the meta server
// can reconcile its view after a restart or a missed update.
type ConfigSyncRequest struct {
	Node     string
	Replicas []ReplicaInfo
}

// AppendBinary implements Message.
func (m *ConfigSyncRequest) AppendBinary(b []byte) ([]byte, error) {
	for i := range m.Replicas {
		if !m.Replicas[i].Status.Valid() {
			return b, encodeError("partition status %d", m.Replicas[i].Status)
		}
	}
	b = AppendString(append(b, formatV1), m.Node)
	b = AppendUvarint(b, uint64(len(m.Replicas)))
	for i := range m.Replicas {
		b = appendReplicaInfo(b, &m.Replicas[i])
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *ConfigSyncRequest) UnmarshalBinary(data []byte) error {
	*m = ConfigSyncRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Node = d.String()
	if n := d.Len(replicaInfoMinSize); n > 0 {
		m.Replicas = make([]ReplicaInfo, n)
		for i := range m.Replicas {
			decodeReplicaInfo(d, &m.Replicas[i])
		}
	}
	return d.Finish()
}

// ConfigSyncResponse tells a node what it should serve: the configuration
// of every partition that lists the node as a member, the tables those
// partitions belong to, and the replicas the node holds that no longer
// belong to it and may be garbage-collected.
type ConfigSyncResponse struct {
	Apps            []AppInfo
	Partitions      []PartitionConfiguration
	GarbageReplicas []Gpid
}

// AppendBinary implements Message.
func (m *ConfigSyncResponse) AppendBinary(b []byte) ([]byte, error) {
	if err := checkAppInfos(m.Apps); err != nil {
		return b, err
	}
	b = appendAppInfos(append(b, formatV1), m.Apps)
	b = appendPartitionConfigs(b, m.Partitions)
	return appendGpids(b, m.GarbageReplicas), nil
}

// UnmarshalBinary implements Message.
func (m *ConfigSyncResponse) UnmarshalBinary(data []byte) error {
	*m = ConfigSyncResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Apps = decodeAppInfos(d)
	m.Partitions = decodePartitionConfigs(d)
	m.GarbageReplicas = decodeGpids(d)
	return d.Finish()
}

// UpdateConfigurationRequest proposes a configuration change to the meta
// server, from a primary (ConfigUpgradeToSecondary, ConfigDowngradeToInactive,
// ConfigPrimaryForceUpdateBallot) or from the meta's own guardian. Config is
// the complete new configuration with Ballot = current ballot + 1; Node is
// the member the change is about. The meta persists it with a
// compare-and-set on the ballot and fails with CodeStaleBallot if the stored
// ballot has moved on.
type UpdateConfigurationRequest struct {
	Type   ConfigType
	Node   string
	Config PartitionConfiguration
}

// AppendBinary implements Message.
func (m *UpdateConfigurationRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.Type.Valid() {
		return b, encodeError("config type %d", m.Type)
	}
	b = append(b, formatV1, byte(m.Type))
	b = AppendString(b, m.Node)
	return appendPartitionConfig(b, &m.Config), nil
}

// UnmarshalBinary implements Message.
func (m *UpdateConfigurationRequest) UnmarshalBinary(data []byte) error {
	*m = UpdateConfigurationRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Type = decodeConfigType(d)
	m.Node = d.String()
	decodePartitionConfig(d, &m.Config)
	return d.Finish()
}

func decodeConfigType(d *Decoder) ConfigType {
	t := ConfigType(d.Byte())
	if !t.Valid() {
		d.Fail("unknown config type %d", t)
	}
	return t
}

// UpdateConfigurationResponse is the configuration as persisted.
type UpdateConfigurationResponse struct {
	Config PartitionConfiguration
}

// AppendBinary implements Message.
func (m *UpdateConfigurationResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendPartitionConfig(append(b, formatV1), &m.Config), nil
}

// UnmarshalBinary implements Message.
func (m *UpdateConfigurationResponse) UnmarshalBinary(data []byte) error {
	*m = UpdateConfigurationResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodePartitionConfig(d, &m.Config)
	return d.Finish()
}

// ConfigProposalRequest is pushed by the meta leader to a replica server:
// apply Type to Node for the partition in Config (e.g. ConfigAssignPrimary:
// become primary under Config.Ballot; ConfigAddSecondary sent to the
// primary: start learning Node). App describes the table so a node that
// does not yet serve it can open the replica.
type ConfigProposalRequest struct {
	Type   ConfigType
	Node   string
	App    AppInfo
	Config PartitionConfiguration
}

// AppendBinary implements Message.
func (m *ConfigProposalRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.Type.Valid() {
		return b, encodeError("config type %d", m.Type)
	}
	if err := checkAppInfo(&m.App); err != nil {
		return b, err
	}
	b = append(b, formatV1, byte(m.Type))
	b = AppendString(b, m.Node)
	b = appendAppInfo(b, &m.App)
	return appendPartitionConfig(b, &m.Config), nil
}

// UnmarshalBinary implements Message.
func (m *ConfigProposalRequest) UnmarshalBinary(data []byte) error {
	*m = ConfigProposalRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Type = decodeConfigType(d)
	m.Node = d.String()
	decodeAppInfo(d, &m.App)
	decodePartitionConfig(d, &m.Config)
	return d.Finish()
}

// ConfigProposalResponse acknowledges receipt; the replica acts on the
// proposal asynchronously and reports through UpdateConfiguration or
// ConfigSync.
type ConfigProposalResponse struct{}

// AppendBinary implements Message.
func (m *ConfigProposalResponse) AppendBinary(b []byte) ([]byte, error) {
	return append(b, formatV1), nil
}

// UnmarshalBinary implements Message.
func (m *ConfigProposalResponse) UnmarshalBinary(data []byte) error { return decodeEmpty(data) }
