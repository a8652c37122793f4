package spf

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRFC7208Suite runs the openspf.org RFC 7208 test suite (release
// 2014.04; testdata/README says where the copy comes from). All 203 of its
// 203 cases pass, each with the preferred (first listed) result where the
// suite accepts several, and with the expected explanation where it gives
// one.
func TestRFC7208Suite(t *testing.T) {
	docs := loadSuite(t, "testdata/rfc7208-tests.json")
	total, passed, preferred := 0, 0, 0
	for _, doc := range docs {
		r := suiteZone(t, doc.Zonedata)
		names := make([]string, 0, len(doc.Tests))
		for name := range doc.Tests {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			tc := doc.Tests[name]
			total++
			ok := t.Run(doc.Description+"/"+name, func(t *testing.T) {
				ip, err := netip.ParseAddr(tc.Host)
				if err != nil {
					t.Fatalf("host %q: %v", tc.Host, err)
				}
				c := Checker{Resolver: r, Receiver: "receiver.example.net", Now: fixedNow}
				v := c.Check(context.Background(), ip, latin1(t, tc.Helo), latin1(t, tc.Mailfrom))
				want := suiteResults(t, tc.Result)
				if !slices.Contains(want, v.Result.String()) {
					t.Fatalf("got %v (%v), want %v", v.Result, v.Err, want)
				}
				if v.Result.String() == want[0] {
					preferred++
				}
				if tc.Explanation != nil {
					// "DEFAULT" is the implementation's own text: here, none.
					// The suite writes the IPv6 nibbles of %{i} in upper case
					// where RFC 7208 §7.4 uses lower case; DNS names compare
					// without case, so explanations do too.
					wantExp := latin1(t, *tc.Explanation)
					if wantExp == "DEFAULT" {
						wantExp = ""
					}
					if !strings.EqualFold(v.Explanation, wantExp) {
						t.Errorf("explanation %q, want %q", v.Explanation, wantExp)
					}
				}
			})
			if ok {
				passed++
			}
		}
	}
	t.Logf("RFC 7208 suite: %d/%d cases pass, %d with the preferred result", passed, total, preferred)
	if total != 203 {
		t.Errorf("the suite has %d cases, want 203", total)
	}
}

func fixedNow() time.Time { return time.Unix(1700000000, 0) }

// suiteDoc is one section (YAML document) of the suite.
type suiteDoc struct {
	Description string
	Tests       map[string]suiteCase
	Zonedata    map[string][]json.RawMessage
}

type suiteCase struct {
	Helo        string
	Host        string
	Mailfrom    string
	Result      json.RawMessage // a result or a list of acceptable ones
	Explanation *string
}

func loadSuite(t *testing.T, path string) []suiteDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []suiteDoc
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// latin1 undoes the YAML-to-JSON conversion of testdata/README: the YAML
// escapes \xNN are the code points U+00NN in JSON, and stand for the raw
// bytes NN (such as the invalid UTF-8 \x80 the non-ASCII tests need).
func latin1(t *testing.T, s string) string {
	t.Helper()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			t.Fatalf("%q: code point %U does not stand for a byte", s, r)
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func suiteResults(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return many
}

// suiteZone builds a fake resolver from a section's zonedata, the way the
// suite's README and pyspf's driver do: a bare TIMEOUT makes queries for
// types the name has no records of time out; "TXT: NONE" means no TXT
// record; SPF records are served as TXT when the name has no TXT entry;
// list-valued TXT and SPF entries are the strings of one record.
func suiteZone(t *testing.T, zonedata map[string][]json.RawMessage) *fakeResolver {
	t.Helper()
	f := &fakeResolver{zone: make(map[string]*fakeName)}
	for name, entries := range zonedata {
		n := f.name(latin1(t, name))
		var spf []fakeRR
		hasTXT := false
		for _, raw := range entries {
			var bare string
			if json.Unmarshal(raw, &bare) == nil {
				if bare != "TIMEOUT" {
					t.Fatalf("%s: unknown entry %q", name, bare)
				}
				n.timeout = true
				continue
			}
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(raw, &rec); err != nil || len(rec) != 1 {
				t.Fatalf("%s: bad entry %s", name, raw)
			}
			for typ, val := range rec {
				switch typ {
				case "TXT", "SPF":
					strs := suiteStrings(t, val)
					if typ == "TXT" {
						hasTXT = true
						if len(strs) == 1 && strs[0] == "NONE" {
							continue
						}
						n.rrs = append(n.rrs, fakeRR{typ: "TXT", txt: strs})
					} else {
						spf = append(spf, fakeRR{typ: "TXT", txt: strs})
					}
				case "MX":
					var mx []json.RawMessage
					var pref uint16
					var host string
					if json.Unmarshal(val, &mx) != nil || len(mx) != 2 ||
						json.Unmarshal(mx[0], &pref) != nil || json.Unmarshal(mx[1], &host) != nil {
						t.Fatalf("%s: bad MX %s", name, val)
					}
					n.rrs = append(n.rrs, fakeRR{typ: typ, val: latin1(t, host), pref: pref})
				case "A", "AAAA", "PTR", "CNAME":
					var s string
					if err := json.Unmarshal(val, &s); err != nil {
						t.Fatalf("%s: bad %s %s", name, typ, val)
					}
					n.rrs = append(n.rrs, fakeRR{typ: typ, val: latin1(t, s)})
				default:
					t.Fatalf("%s: unknown type %s", name, typ)
				}
			}
		}
		if !hasTXT {
			n.rrs = append(n.rrs, spf...)
		}
	}
	return f
}

// suiteStrings reads a TXT or SPF value: one string, or a list of the
// strings of one record.
func suiteStrings(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{latin1(t, one)}
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		t.Fatalf("bad TXT value %s", raw)
	}
	for i := range many {
		many[i] = latin1(t, many[i])
	}
	return many
}
