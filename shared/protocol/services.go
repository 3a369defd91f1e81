package protocol

// rpcx service and method names. Every call of the system is listed here
// with its request and response types; Methods returns the same list as
// data so the RPC layer can register codecs and tests can cover every type.
//
//	service        called on        by
//	Replica        replica server   clients (data API, primary only)
//	Meta           meta leader      clients, admincli, metaproxy, collector
//	MetaInternal   meta leader      replica servers
//	ReplicaControl replica server   meta leader
//	Peer           replica server   other replica servers of the same partition;
//	                                DupCheckpoint: follower replicas of another cluster

// Service names.
const (
	ServiceReplica        = "Replica"
	ServiceMeta           = "Meta"
	ServiceMetaInternal   = "MetaInternal"
	ServiceReplicaControl = "ReplicaControl"
	ServicePeer           = "Peer"
)

// Methods of ServiceReplica, the client data API. Every request starts
// with a RequestHeader and is served by the partition's primary.
const (
	MethodGet            = "Get"            // GetRequest -> GetResponse; missing record: CodeNotFound
	MethodSet            = "Set"            // SetRequest -> SetResponse
	MethodDel            = "Del"            // DelRequest -> DelResponse
	MethodMultiGet       = "MultiGet"       // MultiGetRequest -> MultiGetResponse
	MethodMultiSet       = "MultiSet"       // MultiSetRequest -> MultiSetResponse
	MethodMultiDel       = "MultiDel"       // MultiDelRequest -> MultiDelResponse
	MethodDelRange       = "DelRange"       // DelRangeRequest -> DelRangeResponse
	MethodSortKeyCount   = "SortKeyCount"   // SortKeyCountRequest -> SortKeyCountResponse
	MethodExist          = "Exist"          // ExistRequest -> ExistResponse
	MethodTTL            = "TTL"            // TTLRequest -> TTLResponse
	MethodIncr           = "Incr"           // IncrRequest -> IncrResponse
	MethodCheckAndSet    = "CheckAndSet"    // CheckAndSetRequest -> CheckAndSetResponse
	MethodCheckAndMutate = "CheckAndMutate" // CheckAndMutateRequest -> CheckAndMutateResponse
	MethodScanOpen       = "ScanOpen"       // ScanOpenRequest -> ScanOpenResponse
	MethodScanNext       = "ScanNext"       // ScanNextRequest -> ScanNextResponse
	MethodScanClose      = "ScanClose"      // ScanCloseRequest -> ScanCloseResponse
	MethodBatchGet       = "BatchGet"       // BatchGetRequest -> BatchGetResponse (per-key codes)
	MethodBatchSet       = "BatchSet"       // BatchSetRequest -> BatchSetResponse (per-key codes)
	MethodDuplicate      = "Duplicate"      // DuplicateRequest -> DuplicateResponse (from a source cluster's duplicator)
)

// Methods of ServiceMeta.
const (
	MethodCreateApp   = "CreateApp"   // CreateAppRequest -> CreateAppResponse
	MethodDropApp     = "DropApp"     // DropAppRequest -> DropAppResponse
	MethodRecallApp   = "RecallApp"   // RecallAppRequest -> RecallAppResponse
	MethodListApps    = "ListApps"    // ListAppsRequest -> ListAppsResponse
	MethodQueryConfig = "QueryConfig" // QueryConfigRequest -> QueryConfigResponse
	MethodListNodes   = "ListNodes"   // ListNodesRequest -> ListNodesResponse
	MethodSetAppEnvs  = "SetAppEnvs"  // SetAppEnvsRequest -> SetAppEnvsResponse
	MethodGetAppEnvs  = "GetAppEnvs"  // GetAppEnvsRequest -> GetAppEnvsResponse
	MethodDelAppEnvs  = "DelAppEnvs"  // DelAppEnvsRequest -> DelAppEnvsResponse
	MethodClusterInfo = "ClusterInfo" // ClusterInfoRequest -> ClusterInfoResponse

	MethodAddDuplication    = "AddDuplication"    // AddDuplicationRequest -> AddDuplicationResponse
	MethodQueryDuplication  = "QueryDuplication"  // QueryDuplicationRequest -> QueryDuplicationResponse
	MethodModifyDuplication = "ModifyDuplication" // ModifyDuplicationRequest -> ModifyDuplicationResponse
)

// Methods of ServiceMetaInternal (replica server -> meta leader).
const (
	MethodBeacon              = "Beacon"              // BeaconRequest -> BeaconResponse
	MethodConfigSync          = "ConfigSync"          // ConfigSyncRequest -> ConfigSyncResponse
	MethodUpdateConfiguration = "UpdateConfiguration" // UpdateConfigurationRequest -> UpdateConfigurationResponse
	MethodDuplicationSync     = "DuplicationSync"     // DuplicationSyncRequest -> DuplicationSyncResponse
)

// Methods of ServiceReplicaControl (meta leader -> replica server).
const (
	MethodConfigProposal = "ConfigProposal" // ConfigProposalRequest -> ConfigProposalResponse
)

// Methods of ServicePeer (replica server -> replica server).
const (
	MethodPrepare               = "Prepare"               // PrepareRequest -> PrepareResponse
	MethodGroupCheck            = "GroupCheck"            // GroupCheckRequest -> GroupCheckResponse
	MethodLearn                 = "Learn"                 // LearnRequest -> LearnResponse
	MethodCopyFile              = "CopyFile"              // CopyFileRequest -> CopyFileResponse
	MethodLearnCompletionNotify = "LearnCompletionNotify" // LearnCompletionNotifyRequest -> LearnCompletionNotifyResponse
	MethodDupCheckpoint         = "DupCheckpoint"         // DupCheckpointRequest -> DupCheckpointResponse (from a follower cluster's replica)
)

// MethodInfo describes one RPC: where it lives and constructors for fresh
// request and response values.
type MethodInfo struct {
	Service     string
	Method      string
	NewRequest  func() Message
	NewResponse func() Message
}

func method[Req, Resp any, PReq interface {
	*Req
	Message
}, PResp interface {
	*Resp
	Message
}](service, name string) MethodInfo {
	return MethodInfo{
		Service:     service,
		Method:      name,
		NewRequest:  func() Message { return PReq(new(Req)) },
		NewResponse: func() Message { return PResp(new(Resp)) },
	}
}

// methods is append-only: tests derive fuzz type indexes from its order.
var methods = []MethodInfo{
	method[GetRequest, GetResponse](ServiceReplica, MethodGet),
	method[SetRequest, SetResponse](ServiceReplica, MethodSet),
	method[DelRequest, DelResponse](ServiceReplica, MethodDel),
	method[MultiGetRequest, MultiGetResponse](ServiceReplica, MethodMultiGet),
	method[MultiSetRequest, MultiSetResponse](ServiceReplica, MethodMultiSet),
	method[MultiDelRequest, MultiDelResponse](ServiceReplica, MethodMultiDel),
	method[DelRangeRequest, DelRangeResponse](ServiceReplica, MethodDelRange),
	method[SortKeyCountRequest, SortKeyCountResponse](ServiceReplica, MethodSortKeyCount),
	method[ExistRequest, ExistResponse](ServiceReplica, MethodExist),
	method[TTLRequest, TTLResponse](ServiceReplica, MethodTTL),
	method[IncrRequest, IncrResponse](ServiceReplica, MethodIncr),
	method[CheckAndSetRequest, CheckAndSetResponse](ServiceReplica, MethodCheckAndSet),
	method[CheckAndMutateRequest, CheckAndMutateResponse](ServiceReplica, MethodCheckAndMutate),
	method[ScanOpenRequest, ScanOpenResponse](ServiceReplica, MethodScanOpen),
	method[ScanNextRequest, ScanNextResponse](ServiceReplica, MethodScanNext),
	method[ScanCloseRequest, ScanCloseResponse](ServiceReplica, MethodScanClose),
	method[BatchGetRequest, BatchGetResponse](ServiceReplica, MethodBatchGet),
	method[BatchSetRequest, BatchSetResponse](ServiceReplica, MethodBatchSet),

	method[CreateAppRequest, CreateAppResponse](ServiceMeta, MethodCreateApp),
	method[DropAppRequest, DropAppResponse](ServiceMeta, MethodDropApp),
	method[RecallAppRequest, RecallAppResponse](ServiceMeta, MethodRecallApp),
	method[ListAppsRequest, ListAppsResponse](ServiceMeta, MethodListApps),
	method[QueryConfigRequest, QueryConfigResponse](ServiceMeta, MethodQueryConfig),
	method[ListNodesRequest, ListNodesResponse](ServiceMeta, MethodListNodes),
	method[SetAppEnvsRequest, SetAppEnvsResponse](ServiceMeta, MethodSetAppEnvs),
	method[GetAppEnvsRequest, GetAppEnvsResponse](ServiceMeta, MethodGetAppEnvs),
	method[DelAppEnvsRequest, DelAppEnvsResponse](ServiceMeta, MethodDelAppEnvs),
	method[ClusterInfoRequest, ClusterInfoResponse](ServiceMeta, MethodClusterInfo),

	method[BeaconRequest, BeaconResponse](ServiceMetaInternal, MethodBeacon),
	method[ConfigSyncRequest, ConfigSyncResponse](ServiceMetaInternal, MethodConfigSync),
	method[UpdateConfigurationRequest, UpdateConfigurationResponse](ServiceMetaInternal, MethodUpdateConfiguration),

	method[ConfigProposalRequest, ConfigProposalResponse](ServiceReplicaControl, MethodConfigProposal),

	method[PrepareRequest, PrepareResponse](ServicePeer, MethodPrepare),
	method[GroupCheckRequest, GroupCheckResponse](ServicePeer, MethodGroupCheck),
	method[LearnRequest, LearnResponse](ServicePeer, MethodLearn),
	method[CopyFileRequest, CopyFileResponse](ServicePeer, MethodCopyFile),
	method[LearnCompletionNotifyRequest, LearnCompletionNotifyResponse](ServicePeer, MethodLearnCompletionNotify),

	method[DuplicateRequest, DuplicateResponse](ServiceReplica, MethodDuplicate),
	method[AddDuplicationRequest, AddDuplicationResponse](ServiceMeta, MethodAddDuplication),
	method[QueryDuplicationRequest, QueryDuplicationResponse](ServiceMeta, MethodQueryDuplication),
	method[ModifyDuplicationRequest, ModifyDuplicationResponse](ServiceMeta, MethodModifyDuplication),
	method[DuplicationSyncRequest, DuplicationSyncResponse](ServiceMetaInternal, MethodDuplicationSync),
	method[DupCheckpointRequest, DupCheckpointResponse](ServicePeer, MethodDupCheckpoint),
}

// Methods returns every RPC of the system, grouped by service. The slice is
// a copy; callers may modify it.
func Methods() []MethodInfo { return append([]MethodInfo(nil), methods...) }

// LookupMethod finds an RPC by service and method name.
func LookupMethod(service, name string) (MethodInfo, bool) {
	for _, m := range methods {
		if m.Service == service && m.Method == name {
			return m, true
		}
	}
	return MethodInfo{}, false
}
