package config

import (
	"reflect"
	"testing"
)

func TestValidateClusters(t *testing.T) {
	goodClusters := func() map[string]string {
		return map[string]string{"onebox": "127.0.0.1:34601, 127.0.0.1:34602", "onebox2": "localhost:34701"}
	}
	goodGroup := func() map[string]int { return map[string]int{"onebox": 1, "onebox2": 2} }
	if errs := ValidateClusters(goodClusters(), goodGroup(), "x.cluster_name", "onebox"); errs != nil {
		t.Fatalf("good sections: %v", errs)
	}
	if errs := ValidateClusters(nil, nil, "x.cluster_name", "onebox"); errs != nil {
		t.Fatalf("empty sections: %v", errs)
	}
	// An empty group needs no id for the own cluster.
	if errs := ValidateClusters(goodClusters(), nil, "x.cluster_name", "other"); errs != nil {
		t.Fatalf("clusters without a group: %v", errs)
	}
	cases := []struct {
		name     string
		clusters func(map[string]string)
		group    func(map[string]int)
		own      string
		want     []string
	}{
		{name: "empty name in clusters", clusters: func(m map[string]string) { m[" "] = "127.0.0.1:1" },
			want: []string{"pegasus.clusters has an entry with an empty cluster name"}},
		{name: "empty meta list", clusters: func(m map[string]string) { m["onebox2"] = " " },
			want: []string{"pegasus.clusters.onebox2: empty meta server list"}},
		{name: "meta without port", clusters: func(m map[string]string) { m["onebox2"] = "127.0.0.1:34701,meta" },
			want: []string{`pegasus.clusters.onebox2: meta server "meta": want host:port: address meta: missing port in address`}},
		{name: "meta port zero", clusters: func(m map[string]string) { m["onebox2"] = "127.0.0.1:0" },
			want: []string{`pegasus.clusters.onebox2: meta server "127.0.0.1:0": want a host and a port in 1..65535`}},
		{name: "meta port too large", clusters: func(m map[string]string) { m["onebox2"] = "127.0.0.1:70000" },
			want: []string{`pegasus.clusters.onebox2: meta server "127.0.0.1:70000": want a host and a port in 1..65535`}},
		{name: "meta port not a number", clusters: func(m map[string]string) { m["onebox2"] = "127.0.0.1:http" },
			want: []string{`pegasus.clusters.onebox2: meta server "127.0.0.1:http": want a host and a port in 1..65535`}},
		{name: "meta without host", clusters: func(m map[string]string) { m["onebox2"] = ":34701" },
			want: []string{`pegasus.clusters.onebox2: meta server ":34701": want a host and a port in 1..65535`}},
		{name: "empty name in group", group: func(m map[string]int) { m[""] = 3 },
			want: []string{"duplication-group has an entry with an empty cluster name"}},
		{name: "id zero", group: func(m map[string]int) { m["onebox2"] = 0 },
			want: []string{"duplication-group.onebox2 = 0: want a cluster id in 1..127"}},
		{name: "negative id", group: func(m map[string]int) { m["onebox2"] = -1 },
			want: []string{"duplication-group.onebox2 = -1: want a cluster id in 1..127"}},
		{name: "id too large", group: func(m map[string]int) { m["onebox2"] = MaxClusterID + 1 },
			want: []string{"duplication-group.onebox2 = 128: want a cluster id in 1..127"}},
		{name: "largest id", group: func(m map[string]int) { m["onebox2"] = MaxClusterID }},
		{name: "duplicate id", group: func(m map[string]int) { m["onebox2"] = 1 },
			want: []string{"duplication-group.onebox2 = 1: id already used by cluster onebox"}},
		{name: "own cluster without id", own: "other",
			want: []string{`duplication-group gives no id to this server's own cluster "other" (x.cluster_name)`}},
		{name: "every problem in order",
			clusters: func(m map[string]string) { m["a"] = ""; m["b"] = "nohost" },
			group:    func(m map[string]int) { m["a"] = 1; m["b"] = 200; m["c"] = 1 },
			own:      "z",
			want: []string{
				"pegasus.clusters.a: empty meta server list",
				`pegasus.clusters.b: meta server "nohost": want host:port: address nohost: missing port in address`,
				"duplication-group.b = 200: want a cluster id in 1..127",
				"duplication-group.c = 1: id already used by cluster a",
				"duplication-group.onebox = 1: id already used by cluster a",
				`duplication-group gives no id to this server's own cluster "z" (x.cluster_name)`,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clusters, group := goodClusters(), goodGroup()
			if c.clusters != nil {
				c.clusters(clusters)
			}
			if c.group != nil {
				c.group(group)
			}
			own := c.own
			if own == "" {
				own = "onebox"
			}
			var got []string
			for _, err := range ValidateClusters(clusters, group, "x.cluster_name", own) {
				got = append(got, err.Error())
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ValidateClusters:\n got  %q\n want %q", got, c.want)
			}
		})
	}
}
