package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// MaxClusterID is the largest id of the [duplication-group] section: the id
// occupies 7 bits of a record's timetag.
const MaxClusterID = 127

// ValidateClusters checks the [pegasus.clusters] section (cluster name ->
// comma-separated meta server host:port list) and the [duplication-group]
// section (cluster name -> cluster id) that the daemons share, and returns
// every problem, ordered by section and then by cluster name: names are
// non-empty, meta lists are non-empty comma-separated host:port lists, ids
// are in 1..MaxClusterID and unique, and when the group is not empty the
// server's own cluster own has an id (ownKey names the setting own comes
// from, for the message). It returns nil when there is no problem.
func ValidateClusters(clusters map[string]string, group map[string]int, ownKey, own string) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(clusters)) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, errors.New("pegasus.clusters has an entry with an empty cluster name"))
			continue
		}
		if err := checkMetaList(clusters[name]); err != nil {
			errs = append(errs, fmt.Errorf("pegasus.clusters.%s: %w", name, err))
		}
	}
	byID := map[int]string{}
	for _, name := range slices.Sorted(maps.Keys(group)) {
		id := group[name]
		switch {
		case strings.TrimSpace(name) == "":
			errs = append(errs, errors.New("duplication-group has an entry with an empty cluster name"))
		case id < 1 || id > MaxClusterID:
			errs = append(errs, fmt.Errorf("duplication-group.%s = %d: want a cluster id in 1..%d", name, id, MaxClusterID))
		case byID[id] != "":
			errs = append(errs, fmt.Errorf("duplication-group.%s = %d: id already used by cluster %s", name, id, byID[id]))
		default:
			byID[id] = name
		}
	}
	if _, ok := group[own]; len(group) > 0 && !ok {
		errs = append(errs, fmt.Errorf("duplication-group gives no id to this server's own cluster %q (%s)", own, ownKey))
	}
	return errs
}

// checkMetaList checks a comma-separated host:port list.
func checkMetaList(list string) error {
	if strings.TrimSpace(list) == "" {
		return errors.New("empty meta server list")
	}
	for part := range strings.SplitSeq(list, ",") {
		addr := strings.TrimSpace(part)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("meta server %q: want host:port: %v", addr, err)
		}
		if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("meta server %q: want a host and a port in 1..65535", addr)
		}
	}
	return nil
}
