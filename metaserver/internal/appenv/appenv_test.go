package appenv

import (
	"errors"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key, value string
		ok         bool
	}{
		{KeyDefaultTTL, "86400", true},
		{KeyDefaultTTL, "0", true},
		{KeyDefaultTTL, "-1", false},
		{KeyDefaultTTL, "1d", false},
		{KeyDefaultTTL, "99999999999", false},
		{KeyDenyClientRequest, "reconfig*all", true},
		{KeyDenyClientRequest, "timeout*read", true},
		{KeyDenyClientRequest, "timeout*write", true},
		{KeyDenyClientRequest, "reconfig", false},
		{KeyDenyClientRequest, "never*all", false},
		{KeyDenyClientRequest, "timeout*scan", false},
		{KeyUsageScenario, "normal", true},
		{KeyUsageScenario, "prefer_write", true},
		{KeyUsageScenario, "bulk_load", true},
		{KeyUsageScenario, "bulkload", false},
		{KeyAllowIngestBehind, "true", true},
		{KeyAllowIngestBehind, "false", true},
		{KeyAllowIngestBehind, "yes", false},
		{KeyManualCompactDisabled, "true", true},
		{KeyOnceTriggerTime, "1700000000", true},
		{KeyOnceTargetLevel, "-1", true},
		{KeyOnceTargetLevel, "0", false},
		{KeyOnceTargetLevel, "7", false},
		{KeyPeriodicTriggerTime, "03:00,15:30", true},
		{KeyPeriodicTriggerTime, "3:00", false},
		{KeyPeriodicTriggerTime, "24:00", false},
		{KeyPeriodicBottommost, "force", true},
		{KeyPeriodicBottommost, "always", false},
		{KeyWriteThrottling, "20000*delay*100,40000*reject*200", true},
		{KeyWriteThrottlingBySize, "20M*delay*100", true},
		{KeyWriteThrottling, "20000*slow*100", false},
		{KeyWriteThrottling, "20000*delay", false},
		{KeyWriteThrottling, "20KM*delay*1", false},
		{KeySlowQueryThreshold, "19", false},
		{KeyBusinessInfo, "depart=storage", true},
		{"manual_compact.unknown", "1", false},
		{"no_such_key", "x", false},
		{KeyBusinessInfo, strings.Repeat("x", MaxValueLen+1), false},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key, tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateKey(%q, %.20q) = %v, want ok=%v", tt.key, tt.value, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, protocol.CodeInvalidArgument) {
				t.Errorf("ValidateKey(%q): code %v, want CodeInvalidArgument", tt.key, protocol.CodeOf(err))
			}
			if len(tt.key) <= MaxKeyLen && !strings.Contains(err.Error(), tt.key) {
				t.Errorf("ValidateKey(%q): error %q does not name the key", tt.key, err)
			}
		}
	}
}

func TestValidateNamesFirstBadKey(t *testing.T) {
	err := Validate(map[string]string{KeyDefaultTTL: "10", "zzz": "1", "aaa": "1"})
	if err == nil || !strings.Contains(err.Error(), `"aaa"`) {
		t.Fatalf("Validate = %v, want an error naming aaa", err)
	}
	if err := Validate(map[string]string{KeyDefaultTTL: "10", KeyUsageScenario: "normal"}); err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range MaxEnvs + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	if err := Validate(many); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("Validate of %d envs = %v", len(many), err)
	}
}

func FuzzValidateKey(f *testing.F) {
	f.Add(KeyWriteThrottling, "20000*delay*100")
	f.Add(KeyPeriodicTriggerTime, "03:00")
	f.Fuzz(func(t *testing.T, k, v string) {
		_ = ValidateKey(k, v)
	})
}

func TestDupMasterEnvs(t *testing.T) {
	ok := map[string]string{
		protocol.EnvDupMasterCluster: "master",
		protocol.EnvDupMasterMetas:   "127.0.0.1:34601,127.0.0.1:34602",
		protocol.EnvDupMasterApp:     "t1",
	}
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		protocol.EnvDupMasterCluster: "",
		protocol.EnvDupMasterMetas:   "127.0.0.1",
		protocol.EnvDupMasterApp:     "",
	} {
		if err := ValidateKey(k, v); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
	if err := ValidateKey(protocol.EnvDupMasterMetas, "a:1,"); err == nil {
		t.Error("trailing comma accepted")
	}
}
