package analyze

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "20MB": 20e6, "20mb": 20e6, "20 MB": 20e6, "20M": 20e6, "1.5GiB": 3 << 29,
		"1KiB": 1024, "2kB": 2000, "7B": 7, "1,000": 1000,
	} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "20XB", "-1", "1e3", "MB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q): no error", in)
		}
	}
}

func TestRulesSet(t *testing.T) {
	for _, tc := range []struct{ name, value, err string }{
		{RuleLowestEfficiency, "0.95", ""},
		{RuleLowestEfficiency, "1", ""},
		{RuleLowestEfficiency, "disabled", ""},
		{RuleLowestEfficiency, "1.5", "outside the allowed range"},
		{RuleLowestEfficiency, "-0.1", "outside the allowed range"},
		{RuleLowestEfficiency, "abc", "not a ratio"},
		{RuleLowestEfficiency, "NaN", "not a ratio"},
		{RuleHighestUserWastedPercent, "20", "outside the allowed range"},
		{RuleHighestWastedBytes, "20MB", ""},
		{RuleHighestWastedBytes, "lots", "not a size"},
		{"lowestEfficency", "0.9", "unknown rule"},
		{"LowestEfficiency", "0.9", ""}, // viper, which dive reads it with, ignores case
		{"HIGHESTWASTEDBYTES", "1GB", ""},
	} {
		r := DefaultRules()
		err := r.Set(tc.name, tc.value)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Set(%s, %q) = %v, want %q", tc.name, tc.value, err, tc.err)
		}
	}
}

func TestReadRules(t *testing.T) {
	r := DefaultRules()
	err := ReadRules(strings.NewReader("plugins: [x]\nrules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: disabled\n"), &r)
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{LowestEfficiency: Limit{Value: 0.95}, HighestWastedBytes: Limit{Value: 20e6}, HighestUserWastedPercent: Limit{Disabled: true}}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	r = DefaultRules()
	if err := ReadRules(strings.NewReader(""), &r); err != nil || r != DefaultRules() {
		t.Errorf("empty file: %v, %+v", err, r)
	}
	for in, msg := range map[string]string{
		"rules: [":                          "not YAML",
		"0":                                 "not a mapping",
		"rules: 5":                          "not a mapping of rule names",
		"rules:\n  lowestEfficiency: 1.5\n": "line 2: lowestEfficiency: 1.5 is outside",
		"rules:\n  lowestEfficiency: [1]\n": "not a single value",
		"rules:\n  typo: 1\n":               "unknown rule",
	} {
		r := DefaultRules()
		if err := ReadRules(strings.NewReader(in), &r); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ReadRules(%q) = %v, want %q", in, err, msg)
		}
	}
}

func TestRulesCheck(t *testing.T) {
	e := &EfficiencyReport{Score: 0.8, WastedBytes: 100, UserWastedPercent: 0.05}
	res, pass := DefaultRules().Check(e)
	if pass {
		t.Error("an efficiency of 0.8 passed dive's default 0.9")
	}
	got := ""
	for _, r := range res {
		got += r.Name + ":" + string(r.Status) + " "
	}
	if want := "highestUserWastedPercent:PASS highestWastedBytes:SKIP lowestEfficiency:FAIL "; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	r := Rules{LowestEfficiency: Limit{Value: 0.8}, HighestWastedBytes: Limit{Value: 100}, HighestUserWastedPercent: Limit{Value: 0.05}}
	if _, pass := r.Check(e); !pass {
		t.Error("limits equal to the figures failed")
	}
}
