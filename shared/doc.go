// Package shared is the module every Pegasus-Go daemon and the client build
// on: wire types and rpcx service names (protocol), the key and value schema
// (keyschema), the coordination store (coord), RPC plumbing (rpc), daemon
// plumbing (config, logging, metrics, httpserver) and a real ZooKeeper test
// harness (zktest). It holds no daemon logic.
package shared
