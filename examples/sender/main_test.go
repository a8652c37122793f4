package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// demoOptions returns the options of "sender" run with no flags.
func demoOptions(t *testing.T, args ...string) options {
	t.Helper()
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// runSender runs the program with o and returns its stdout and stderr.
func runSender(t *testing.T, o options, stdin string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, o, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestDemo runs the Quick start, "go run ./sender", in-process and checks
// every part of the report.
func TestDemo(t *testing.T) {
	o := demoOptions(t)
	o.progressEvery = 200 * time.Millisecond // slow.example takes 1.5s
	start := time.Now()
	out, errOut, err := runSender(t, o, "")
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("demo took %s, want a few seconds", d)
	}
	t.Logf("stdout:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")

	has := func(want string) {
		t.Helper()
		if !slices.Contains(lines, want) {
			t.Errorf("missing line %q", want)
		}
	}
	hasPrefix := func(prefix string) string {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Errorf("no line starting with %q", prefix)
		return ""
	}

	if !strings.HasPrefix(lines[0], "sender: demo mode: DNS server on 127.0.0.1:") {
		t.Errorf("first line %q, want the demo banner", lines[0])
	}
	has(`pre-flight: SPF pass: 192.0.2.25 may send for sender.example (mechanism "a:out.sender.example")`)
	has("pre-flight: DKIM ok: demo._domainkey.sender.example publishes the ed25519 key we sign with")

	// One decision line per domain, sorted by domain.
	decisionLines := []string{
		"acme.example: deliver (3 recipients)",
		"broken.example: defer 451 4.4.3 (1 recipient): DNS lookup failed: ",
		"bücher.example: deliver (1 recipient, looked up as xn--bcher-kva.example)",
		"hosted.example: deliver (2 recipients)",
		"implicit.example: deliver (1 recipient, implicit MX)",
		"nohosts.example: bounce 550 5.1.2 (1 recipient): no mail host with an address: ",
		"nonexistent.example: bounce 550 5.1.2 (1 recipient): no such domain",
		"nullmx.example: bounce 556 5.1.10 (1 recipient): domain accepts no mail (null MX)",
		"partner.example: deliver (1 recipient)",
		"secure.example: deliver (1 recipient)",
		"slow.example: defer 451 4.4.3 (1 recipient): DNS lookup failed: ",
	}
	var got []string
	for _, l := range lines {
		if strings.Contains(l, ".example: ") && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "pre-flight") {
			got = append(got, l)
		}
	}
	if len(got) != len(decisionLines) {
		t.Fatalf("got %d domain lines, want %d:\n%s", len(got), len(decisionLines), strings.Join(got, "\n"))
	}
	for i, want := range decisionLines {
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("domain line %d: got %q, want prefix %q", i, got[i], want)
		}
	}
	if l := hasPrefix("broken.example: "); !strings.HasSuffix(l, ": server failure") {
		t.Errorf("broken.example: got %q, want a SERVFAIL", l)
	}
	if l := hasPrefix("slow.example: "); !strings.HasSuffix(l, ": timeout") {
		t.Errorf("slow.example: got %q, want a timeout", l)
	}
	if l := hasPrefix("nohosts.example: "); !strings.Contains(l, "mx.nohosts.example.: mail host has no address") ||
		!strings.Contains(l, "gone.nohosts.example.: mail host does not exist") {
		t.Errorf("nohosts.example: got %q, want both hosts' reasons", l)
	}

	// The hosts of a delivery, in order. mx1 and mx2 share preference 10
	// and are shuffled; the backup at 20 comes last.
	acme := hostLines(lines, "acme.example: ")
	if len(acme) != 3 {
		t.Fatalf("acme.example hosts: %q", acme)
	}
	first := []string{acme[0], acme[1]}
	slices.Sort(first)
	if want := []string{"  10 mx1.acme.example: 2001:db8:11::1 192.0.2.11", "  10 mx2.acme.example: 192.0.2.12"}; !slices.Equal(first, want) {
		t.Errorf("acme.example preference 10: got %q, want %q", first, want)
	}
	if want := "  20 backup.acme.example: 198.51.100.20"; acme[2] != want {
		t.Errorf("acme.example last host: got %q, want %q", acme[2], want)
	}
	for domain, want := range map[string][]string{
		"bücher.example: ":   {"  10 mail.xn--bcher-kva.example: 2001:db8:30::1 192.0.2.30"},
		"hosted.example: ":   {"  10 mx.hosted.example: 203.0.113.7"},
		"partner.example: ":  {"  10 mx.hosted.example: 203.0.113.7"},
		"implicit.example: ": {"  0 implicit.example: 192.0.2.50"},
		"nullmx.example: ":   nil,
		"secure.example: ":   {"  10 mx.secure.example: 192.0.2.60 (DANE: authenticated TLS, 1 TLSA record at mx.secure.example)"},
	} {
		if got := hostLines(lines, domain); !slices.Equal(got, want) {
			t.Errorf("%shosts %q, want %q", domain, got, want)
		}
	}

	summary := hasPrefix("summary: ")
	if m := regexp.MustCompile(`^summary: 11 domains, 14 recipients planned in [0-9.]+m?s: deliver 6 \(9 recipients\), defer 2 \(2 recipients\), bounce 3 \(3 recipients\)$`); !m.MatchString(summary) {
		t.Errorf("summary %q", summary)
	}
	stats := hasPrefix("stats: ")
	if m := regexp.MustCompile(`^stats: ([0-9]+) lookups: [0-9]+ cache hits \([0-9]+ negative\), [0-9]+ misses, [0-9]+ coalesced, [0-9]+ stale served$`); !m.MatchString(stats) {
		t.Errorf("stats line %q", stats)
	}
	queries := ""
	for _, l := range lines {
		if strings.Contains(l, " upstream queries: ") {
			queries = l
		}
	}
	if !regexp.MustCompile(`^stats: [0-9]+ upstream queries: [0-9]+ retries \([0-9]+ refused by the retry budget\), [0-9]+ rate-limit waits, [1-9][0-9]* timeouts, [1-9][0-9]* SERVFAIL, [0-9]+ TCP fallbacks; [0-9]+ cache evictions$`).MatchString(queries) {
		t.Errorf("upstream stats line %q", queries)
	}
	hasPrefix("stats: upstream 127.0.0.1:")

	if !strings.Contains(errOut, "sender: progress: ") {
		t.Errorf("no progress line on stderr:\n%s", errOut)
	}
}

// hostLines returns the indented host lines after the line starting with
// prefix.
func hostLines(lines []string, prefix string) []string {
	var out []string
	for i, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		for _, h := range lines[i+1:] {
			if !strings.HasPrefix(h, "  ") {
				break
			}
			out = append(out, h)
		}
	}
	return out
}

// TestMetrics scrapes the registry after a demo run and checks the
// resolver's counters, the decisions and the pre-flight results.
func TestMetrics(t *testing.T) {
	key := demoKey()
	srv, err := startDemo(key)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	o := demoOptions(t)
	res, err := resolver.New(resolverConfig(o, []string{srv.Addr()}))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	m := newMetrics(res.Stats)

	ctx := context.Background()
	id, err := senderIdentity(o)
	if err != nil {
		t.Fatal(err)
	}
	m.recordChecks(preflight(ctx, res, id, o.timeout))
	groups, _, err := readRecipients(strings.NewReader(demoRecipients), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := &planner{Lookuper: new(mx.Lookuper), Resolver: res, Concurrency: 4, Timeout: o.timeout, OnDone: m.recordOutcome}
	p.planAll(ctx, groups)

	hs := httptest.NewServer(m.handler())
	defer hs.Close()
	body := get(t, hs.URL)
	s := res.Stats()
	up := `{upstream="` + srv.Addr() + `"}`
	for _, want := range []string{
		"# TYPE maildns_lookups_total counter",
		"maildns_lookups_total " + itoa(s.Lookups),
		"maildns_cache_hits_total " + itoa(s.CacheHits),
		"maildns_cache_misses_total " + itoa(s.CacheMisses),
		"maildns_negative_hits_total ",
		"maildns_coalesced_total ",
		"maildns_stale_served_total 0",
		"maildns_retries_total " + itoa(s.Retries),
		"maildns_retries_denied_total ",
		"maildns_rate_limit_waits_total ",
		"maildns_timeouts_total " + itoa(s.Timeouts),
		"maildns_servfails_total " + itoa(s.ServFails),
		"maildns_tcp_fallbacks_total 0",
		"maildns_evictions_total 0",
		"maildns_upstream_queries_total" + up + " ",
		"maildns_upstream_failures_total" + up + " ",
		"# TYPE maildns_upstream_srtt_seconds gauge",
		"maildns_upstream_srtt_seconds" + up + " ",
		"maildns_upstream_down" + up + " ",
		"maildns_upstream_replies_total" + up + " ",
		"# TYPE maildns_upstream_rate_qps gauge",
		"maildns_upstream_rate_qps" + up + " ",
		"maildns_upstream_ceiling_qps" + up + " ",
		`maildns_sender_domains_total{decision="deliver"} 6`,
		`maildns_sender_domains_total{decision="defer"} 2`,
		`maildns_sender_domains_total{decision="bounce"} 3`,
		`maildns_sender_recipients_total{decision="deliver"} 9`,
		`maildns_sender_preflight_ok{check="dkim"} 1`,
		`maildns_sender_preflight_ok{check="spf"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if s.Lookups == 0 || s.Timeouts == 0 || s.ServFails == 0 {
		t.Errorf("stats %+v: want lookups, timeouts and SERVFAILs", s)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// get fetches url's /metrics.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

// TestMetricsFlag runs with -metrics and -hold, scrapes the endpoint while
// the program holds, then interrupts it.
func TestMetricsFlag(t *testing.T) {
	o := demoOptions(t, "-metrics", "127.0.0.1:0", "-hold")
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, strings.NewReader(""), &out, &errOut) }()

	re := regexp.MustCompile(`metrics on (http://\S+)/metrics`)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "serving metrics until interrupted") {
		if time.Now().After(deadline) {
			t.Fatalf("no hold message; stderr:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := re.FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no metrics address on stderr:\n%s", errOut.String())
	}
	body := get(t, m[1])
	for _, want := range []string{`maildns_sender_domains_total{decision="bounce"} 3`, "maildns_lookups_total "} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the interrupt")
	}
}

// TestUpstreamMode runs against an upstream given with -upstream: the
// demo server started by the test, recipients on stdin, a sending address
// SPF does not authorize and a DKIM key that is not the published one.
func TestUpstreamMode(t *testing.T) {
	srv, err := startDemo(demoKey())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// A different Ed25519 key, as a PKCS #8 PEM file.
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	args := []string{"-upstream", srv.Addr(), "-recipients", "-", "-from", "bounces@sender.example",
		"-ip", "203.0.113.9", "-selector", "demo", "-dkim-key", keyFile}
	stdin := "# two recipients\nAlice <alice@acme.example>\n\nnot-an-address\nbob@nullmx.example\n"
	out, errOut, err := runSender(t, demoOptions(t, args...), stdin)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"sender: upstreams " + srv.Addr() + "\n",
		`pre-flight: SPF FAILED: fail for 203.0.113.9 sending as bounces@sender.example (mechanism "-all")` + "\n",
		"pre-flight: DKIM FAILED: dkim: demo._domainkey.sender.example: ",
		"acme.example: deliver (1 recipient)\n",
		"nullmx.example: bounce 556 5.1.10 (1 recipient): domain accepts no mail (null MX)\n",
		"summary: 2 domains, 2 recipients planned in ",
		"; 1 lines skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(errOut, `line 4: not an address, skipped: "not-an-address"`) {
		t.Errorf("stderr lacks the skipped line:\n%s", errOut)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}

	// -strict makes the failed pre-flight fatal, before any planning.
	out, _, err = runSender(t, demoOptions(t, append(args, "-strict")...), stdin)
	if err == nil || !strings.Contains(err.Error(), "-strict") {
		t.Errorf("-strict: got error %v, want the pre-flight failure", err)
	}
	if strings.Contains(out, "acme.example") {
		t.Errorf("-strict planned domains after a failed pre-flight:\n%s", out)
	}

	// Without -from and -ip, SPF is skipped; without -dkim-key, DKIM too.
	out, _, err = runSender(t, demoOptions(t, "-upstream", srv.Addr()), "x@implicit.example\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pre-flight: SPF skipped: needs -from and -ip\n",
		"pre-flight: DKIM skipped: needs -from, -selector and -dkim-key\n",
		"implicit.example: deliver (1 recipient, implicit MX)\n  0 implicit.example: 192.0.2.50\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDemoKeyFile checks that the demo key written as a PEM file passes
// the DKIM pre-flight: loadSigner reads what the demo publishes.
func TestDemoKeyFile(t *testing.T) {
	der, err := x509.MarshalPKCS8PrivateKey(demoKey())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "demo.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSender(t, demoOptions(t, "-dkim-key", keyFile, "-strict", "-recipients", "-"), "a@acme.example\n")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pre-flight: DKIM ok: ") {
		t.Errorf("DKIM pre-flight did not pass:\n%s", out)
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		args      []string
		upstreams []string
		demo      bool
		timeout   time.Duration
		err       bool
	}{
		{args: nil, demo: true, timeout: demoTimeout},
		{args: []string{"-demo"}, demo: true, timeout: demoTimeout},
		{args: []string{"-upstream", "10.0.0.1:53"}, upstreams: []string{"10.0.0.1:53"}, timeout: defaultTimeout},
		{args: []string{"-upstream", "10.0.0.1:53, 10.0.0.2", "-upstream", "[2001:db8::1]:53"},
			upstreams: []string{"10.0.0.1:53", "10.0.0.2", "[2001:db8::1]:53"}, timeout: defaultTimeout},
		{args: []string{"-timeout", "3s"}, demo: true, timeout: 3 * time.Second},
		{args: []string{"-demo", "-upstream", "10.0.0.1"}, err: true},
		{args: []string{"-concurrency", "0"}, err: true},
		{args: []string{"-hold"}, err: true},
		{args: []string{"-nosuchflag"}, err: true},
		{args: []string{"extra"}, err: true},
	}
	for _, c := range cases {
		o, err := parseFlags(c.args, io.Discard)
		if c.err {
			if !errors.Is(err, errUsage) {
				t.Errorf("%q: got error %v, want a usage error", c.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !slices.Equal(o.upstreams, c.upstreams) || o.demo != c.demo || o.timeout != c.timeout {
			t.Errorf("%q: got upstreams %q demo %v timeout %s, want %q %v %s",
				c.args, o.upstreams, o.demo, o.timeout, c.upstreams, c.demo, c.timeout)
		}
	}
}

func TestReadRecipients(t *testing.T) {
	in := `# comment
alice@Example.COM
Bob <bob@example.com.>
carol@bücher.example
dave@XN--BCHER-KVA.example

no address here
x@
zed@a.example
`
	var warn bytes.Buffer
	groups, bad, err := readRecipients(strings.NewReader(in), &warn)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 2 {
		t.Errorf("got %d bad lines, want 2; warnings:\n%s", bad, warn.String())
	}
	type group struct {
		key, display string
		recipients   []string
	}
	want := []group{
		{"a.example", "a.example", []string{"zed@a.example"}},
		{"xn--bcher-kva.example", "bücher.example", []string{"carol@bücher.example", "dave@XN--BCHER-KVA.example"}},
		{"example.com", "example.com", []string{"alice@Example.COM", "bob@example.com."}},
	}
	if len(groups) != len(want) {
		t.Fatalf("got %d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		w := want[i]
		if g.Key != w.key || g.Display != w.display || !slices.Equal(g.Recipients, w.recipients) {
			t.Errorf("group %d: got %q %q %q, want %q %q %q", i, g.Key, g.Display, g.Recipients, w.key, w.display, w.recipients)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
