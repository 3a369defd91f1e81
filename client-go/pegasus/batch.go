package pegasus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// GetResult is the outcome of one BatchGet key: the value, or Err
// (ErrNotFound for a missing record, another *OpError when the key's
// partition failed).
type GetResult struct {
	Value []byte
	Err   error
}

// BatchSetItem is one record of a BatchSet.
type BatchSetItem struct {
	HashKey []byte
	SortKey []byte
	Value   []byte
	// TTL of the record, rounded up to whole seconds; zero means none.
	TTL time.Duration
}

// BatchGet reads many records, of any hashkeys. Keys are grouped by
// partition and each group is one request, sent in parallel (at most
// Config.BatchConcurrency at once) and retried on its own. The results
// match keys by index. The error is nil when every key was read or found
// missing; otherwise it reports how many keys failed and wraps the first
// failure (each failed key carries its own error in its result).
func (t *Table) BatchGet(ctx context.Context, keys []Key) ([]GetResult, error) {
	results := make([]GetResult, len(keys))
	hashes := make([]uint64, len(keys))
	err := t.run(ctx, opBatchGet, func(ctx context.Context) error {
		var pending []int
		for i, k := range keys {
			if err := checkHashKey(k.HashKey); err != nil {
				results[i].Err = t.argError(opBatchGet, err)
				continue
			}
			hashes[i] = keyschema.Hash(k.HashKey, k.SortKey)
			pending = append(pending, i)
		}
		send := func(ctx context.Context, h protocol.RequestHeader, addr string, idx []int) ([]protocol.ErrorCode, error) {
			req := &protocol.BatchGetRequest{Header: h, Keys: make([]protocol.FullKey, len(idx))}
			for j, i := range idx {
				req.Keys[j] = protocol.FullKey{HashKey: keys[i].HashKey, SortKey: keys[i].SortKey}
			}
			var resp protocol.BatchGetResponse
			if err := t.c.rpc.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodBatchGet, req, &resp); err != nil {
				return nil, err
			}
			if len(resp.Results) != len(idx) {
				return nil, protocol.Errorf(protocol.CodeInvalidArgument, "batch_get answered %d results for %d keys", len(resp.Results), len(idx))
			}
			codes := make([]protocol.ErrorCode, len(idx))
			for j, i := range idx {
				codes[j] = resp.Results[j].Code
				if codes[j] == protocol.CodeOK {
					results[i].Value = resp.Results[j].Value
					if results[i].Value == nil {
						results[i].Value = []byte{}
					}
				}
			}
			return codes, nil
		}
		errs := t.runBatch(ctx, opBatchGet, pending, hashes, send)
		failed, first := 0, error(nil)
		for i := range results {
			if e := errs[i]; e != nil {
				results[i].Err = e
			}
			if e := results[i].Err; e != nil && !errors.Is(e, ErrNotFound) {
				failed++
				if first == nil {
					first = e
				}
			}
		}
		if failed > 0 {
			return fmt.Errorf("pegasus: batch_get on table %q: %d of %d keys failed, first: %w", t.name, failed, len(keys), first)
		}
		return nil
	})
	return results, err
}

// BatchSet writes many records, of any hashkeys, grouped by partition like
// BatchGet; the records of one partition are written atomically. The
// returned slice holds one error per item (nil on success). The error is
// nil when every item was written; otherwise it reports how many failed
// and wraps the first failure.
func (t *Table) BatchSet(ctx context.Context, items []BatchSetItem) ([]error, error) {
	itemErrs := make([]error, len(items))
	hashes := make([]uint64, len(items))
	ttls := make([]int32, len(items))
	err := t.run(ctx, opBatchSet, func(ctx context.Context) error {
		var pending []int
		for i, it := range items {
			if err := checkHashKey(it.HashKey); err != nil {
				itemErrs[i] = t.argError(opBatchSet, err)
				continue
			}
			secs, err := ttlSeconds(it.TTL)
			if err != nil {
				itemErrs[i] = t.argError(opBatchSet, err)
				continue
			}
			ttls[i] = secs
			hashes[i] = keyschema.Hash(it.HashKey, it.SortKey)
			pending = append(pending, i)
		}
		send := func(ctx context.Context, h protocol.RequestHeader, addr string, idx []int) ([]protocol.ErrorCode, error) {
			req := &protocol.BatchSetRequest{Header: h, Items: make([]protocol.BatchSetItem, len(idx))}
			for j, i := range idx {
				it := &items[i]
				req.Items[j] = protocol.BatchSetItem{HashKey: it.HashKey, SortKey: it.SortKey, Value: it.Value, TTLSeconds: ttls[i]}
			}
			var resp protocol.BatchSetResponse
			if err := t.c.rpc.Call(ctx, addr, protocol.ServiceReplica, protocol.MethodBatchSet, req, &resp); err != nil {
				return nil, err
			}
			if len(resp.Codes) != len(idx) {
				return nil, protocol.Errorf(protocol.CodeInvalidArgument, "batch_set answered %d codes for %d items", len(resp.Codes), len(idx))
			}
			return resp.Codes, nil
		}
		errs := t.runBatch(ctx, opBatchSet, pending, hashes, send)
		failed, first := 0, error(nil)
		for i := range items {
			if errs[i] != nil {
				itemErrs[i] = errs[i]
			}
			if itemErrs[i] != nil {
				failed++
				if first == nil {
					first = itemErrs[i]
				}
			}
		}
		if failed > 0 {
			return fmt.Errorf("pegasus: batch_set on table %q: %d of %d items failed, first: %w", t.name, failed, len(items), first)
		}
		return nil
	})
	return itemErrs, err
}

// batchSend sends one partition's group (keys idx, in that order) to addr
// and returns one code per key, or an error for the whole group.
type batchSend func(ctx context.Context, h protocol.RequestHeader, addr string, idx []int) ([]protocol.ErrorCode, error)

// runBatch routes the pending keys by partition, sends the groups in
// parallel and retries the keys whose group (or own code) failed with a
// retryable error, regrouping them under the refreshed configuration,
// until they succeed or the deadline passes. It returns one error per key
// index (nil on success), indexed like hashes.
func (t *Table) runBatch(ctx context.Context, op string, pending []int, hashes []uint64, send batchSend) []error {
	errs := make([]error, len(hashes))
	bo := t.c.newBackoff()
	sem := make(chan struct{}, t.c.cfg.BatchConcurrency)
	for len(pending) > 0 {
		r := t.cfg.Load()
		groups := make(map[int32][]int)
		var order []int32
		for _, i := range pending {
			p := r.partitionOf(hashes[i])
			if _, ok := groups[p]; !ok {
				order = append(order, p)
			}
			groups[p] = append(groups[p], i)
		}
		var (
			mu        sync.Mutex
			retry     []int
			refresh   bool
			wg        sync.WaitGroup
			headerFor = func(p int32, idx []int) protocol.RequestHeader {
				return protocol.RequestHeader{Gpid: r.parts[p].Gpid, PartitionHash: hashes[idx[0]], TimeoutMs: timeoutMs(ctx)}
			}
		)
		for _, p := range order {
			idx := groups[p]
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				addr := r.parts[p].Primary
				var codes []protocol.ErrorCode
				var err error
				if addr == "" {
					err = errNoPrimary(r.parts[p].Gpid)
				} else {
					codes, err = send(ctx, headerFor(p, idx), addr, idx)
				}
				mu.Lock()
				defer mu.Unlock()
				for j, i := range idx {
					e := err
					if e == nil && codes[j] != protocol.CodeOK {
						e = protocol.Errorf(codes[j], "")
					}
					if e == nil {
						errs[i] = nil
						continue
					}
					errs[i] = &OpError{Op: op, Table: t.name, Partition: p, Addr: addr, Err: e}
					switch classify(e) {
					case classRefresh:
						refresh = true
						retry = append(retry, i)
					case classTransient:
						retry = append(retry, i)
					}
				}
			}()
		}
		wg.Wait()
		if len(retry) == 0 || ctx.Err() != nil || t.c.isClosed() {
			break
		}
		if refresh {
			if rerr := t.refresh(ctx, r, true); isTableGone(rerr) {
				for _, i := range retry {
					errs[i] = &OpError{Op: op, Table: t.name, Partition: -1, Err: rerr}
				}
				break
			}
		}
		if !bo.wait(ctx, t.c.closing) {
			break
		}
		t.c.metrics.retry(t.name, op)
		pending = retry
	}
	return errs
}
