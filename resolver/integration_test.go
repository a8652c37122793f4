package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The integration tests run the resolver against a real Unbound on a
// loopback port, which recurses (as a stub) to a real NSD serving the
// test zone. They are skipped, with a message, when the binaries are not
// installed, unless MAILDNS_INTEGRATION=require (set by .ci/run), which
// turns a missing server into a failure.

const integrationZone = `$ORIGIN maildns.test.
$TTL 300
@        IN SOA ns.maildns.test. hostmaster.maildns.test. 1 3600 600 86400 120
@        IN NS  ns
ns       IN A   127.0.0.1
@        IN MX  10 mx1
@        IN MX  20 mx2
@        IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx1      IN A   192.0.2.1
mx1      IN AAAA 2001:db8::1
mx2      IN A   192.0.2.2
www      IN CNAME mx1
nullmx   IN MX  0 .
`

func findBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	msg := fmt.Sprintf("%s not installed (apt-get install unbound nsd)", name)
	if os.Getenv("MAILDNS_INTEGRATION") == "require" {
		t.Fatal(msg + ", and MAILDNS_INTEGRATION=require")
	}
	t.Skip("integration test skipped: " + msg)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startDaemon runs cmd until the test ends and waits until addr answers
// a query for probe.
func startDaemon(t *testing.T, dir, name string, args []string, addr, probe string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
		})
	}
	t.Cleanup(stop)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(probe, dns.TypeSOA)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m, _, err := c.Exchange(q, addr); err == nil && m.Rcode == dns.RcodeSuccess {
			return
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(filepath.Join(dir, name+".out"))
			t.Fatalf("%s did not answer on %s:\n%s", name, addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startUnboundNSD starts NSD serving integrationZone and an Unbound that
// sends queries for maildns.test to it, and returns Unbound's address.
func startUnboundNSD(t *testing.T) string {
	nsd := findBinary(t, "nsd")
	unbound := findBinary(t, "unbound")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)

	nsdPort := freePort(t)
	zone := integrationZone + "big IN TXT " + bigTXT() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "maildns.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	nsdConf := nsdConfig(nsdPort, dir, "maildns.test.")
	writeFile(t, filepath.Join(dir, "nsd.conf"), nsdConf)
	nsdAddr := fmt.Sprintf("127.0.0.1:%d", nsdPort)
	startDaemon(t, dir, "nsd", []string{nsd, "-d", "-c", filepath.Join(dir, "nsd.conf")}, nsdAddr, "maildns.test.")

	ubPort := freePort(t)
	ubConf := unboundConfig(ubPort, dir, nsdPort, "", "maildns.test.")
	writeFile(t, filepath.Join(dir, "unbound.conf"), ubConf)
	ubAddr := fmt.Sprintf("127.0.0.1:%d", ubPort)
	startDaemon(t, dir, "unbound", []string{unbound, "-d", "-c", filepath.Join(dir, "unbound.conf")}, ubAddr, "maildns.test.")
	return ubAddr
}

// nsdConfig is the configuration of an NSD on 127.0.0.1:port with its
// files in dir, serving each zone from dir/<zone>zone.
func nsdConfig(port int, dir string, zones ...string) string {
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%[1]d
	port: %[1]d
	username: ""
	zonesdir: "%[2]s"
	pidfile: "%[2]s/nsd.pid"
	xfrdfile: "%[2]s/xfrd.state"
	zonelistfile: "%[2]s/zone.list"
	database: ""
	logfile: "%[2]s/nsd.log"
	verbosity: 1
	do-ip6: no
remote-control:
	control-enable: no
`, port, dir)
	for _, z := range zones {
		conf += fmt.Sprintf("zone:\n\tname: %q\n\tzonefile: %q\n", z, z+"zone")
	}
	return conf
}

// unboundConfig is the configuration of an Unbound on 127.0.0.1:port with
// its files in dir, sending queries for each zone to the NSD on nsdPort;
// server holds more server: lines (modules, trust anchors).
func unboundConfig(port int, dir string, nsdPort int, server string, zones ...string) string {
	if server == "" {
		server = "\tmodule-config: \"iterator\"\n"
	}
	conf := fmt.Sprintf(`server:
	interface: 127.0.0.1@%[1]d
	port: %[1]d
	access-control: 127.0.0.0/8 allow
	do-ip6: no
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "%[2]s"
	pidfile: "%[2]s/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	qname-minimisation: no
	num-threads: 1
	# test. is special-use (RFC 6761): Unbound answers NXDOMAIN for it
	# unless told otherwise.
	local-zone: "test." nodefault
%[3]sremote-control:
	control-enable: no
`, port, dir, server)
	for _, z := range zones {
		conf += fmt.Sprintf("stub-zone:\n\tname: %q\n\tstub-addr: 127.0.0.1@%d\n", z, nsdPort)
	}
	return conf
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bigTXT is a TXT record of twelve 200-octet strings: more than the
// 1232-octet EDNS0 size, so it needs TCP.
func bigTXT() string {
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, `"%c%s" `, 'a'+i, strings.Repeat("x", 199))
	}
	return b.String()
}

func TestIntegrationUnboundNSD(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	addr := startUnboundNSD(t)
	r := mustNew(t, Config{Upstreams: []string{addr}})
	ctx := context.Background()

	t.Run("MX", func(t *testing.T) {
		mxs, err := r.LookupMX(ctx, "MailDNS.test")
		if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.maildns.test." {
			t.Fatalf("LookupMX: %v, %v", mxs, err)
		}
	})
	t.Run("CNAME", func(t *testing.T) {
		ans, err := r.Lookup(ctx, "www.maildns.test", dns.TypeA)
		if err != nil || len(ans.Records) != 2 {
			t.Fatalf("got %v, %v; want CNAME and A", ans, err)
		}
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		ans, err := r.Lookup(ctx, "nope.maildns.test", dns.TypeMX)
		if err != nil || !ans.NXDomain() {
			t.Fatalf("got %+v, %v", ans, err)
		}
		// min(SOA TTL 300, MINIMUM 120), possibly aged by Unbound's cache.
		if ans.TTL <= 0 || ans.TTL > 120*time.Second {
			t.Errorf("negative TTL %v, want (0, 120s]", ans.TTL)
		}
		before := r.Stats().UpstreamQueries
		if a, _ := r.Lookup(ctx, "nope.maildns.test", dns.TypeA); a == nil || !a.NXDomain() {
			t.Errorf("NXDOMAIN for MX did not answer A")
		}
		if r.Stats().UpstreamQueries != before {
			t.Error("NXDOMAIN not cached for the name")
		}
	})
	t.Run("NODATA", func(t *testing.T) {
		ans, err := r.Lookup(ctx, "mx2.maildns.test", dns.TypeAAAA)
		if err != nil || !ans.NoData() {
			t.Fatalf("got %+v, %v", ans, err)
		}
		_, err = r.LookupNetIP(ctx, "ip6", "mx2.maildns.test")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("LookupNetIP ip6: %v, want IsNotFound", err)
		}
	})
	t.Run("NullMX", func(t *testing.T) {
		mxs, err := r.LookupMX(ctx, "nullmx.maildns.test")
		if err != nil || len(mxs) != 1 || mxs[0].Host != "." {
			t.Fatalf("got %v, %v", mxs, err)
		}
	})
	t.Run("TCPFallback", func(t *testing.T) {
		txt, err := r.LookupTXT(ctx, "big.maildns.test")
		if err != nil || len(txt) != 1 || len(txt[0]) != 2400 {
			t.Fatalf("got %d records, %v", len(txt), err)
		}
		if r.Stats().TCPFallbacks == 0 {
			t.Error("no TCP fallback counted for a 2.4 kB TXT record")
		}
	})
	t.Run("Coalescing", func(t *testing.T) {
		before := r.Stats().UpstreamQueries
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.LookupTXT(ctx, "maildns.test"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := r.Stats().UpstreamQueries - before; n != 1 {
			t.Errorf("100 concurrent lookups cost %d upstream queries, want 1", n)
		}
	})
}

// signZone signs the zone file dir/<zone>zone with a new ECDSA P-256 key
// (ldns-keygen, ldns-signzone, with extra signzone flags) into the same
// file, and returns the key's DNSKEY record, the zone's trust anchor.
func signZone(t *testing.T, dir, zone string, flags ...string) string {
	t.Helper()
	keygen, signzone := findBinary(t, "ldns-keygen"), findBinary(t, "ldns-signzone")
	out, err := runIn(dir, keygen, "-a", "ECDSAP256SHA256", "-k", zone)
	if err != nil {
		t.Fatalf("ldns-keygen: %v\n%s", err, out)
	}
	base := strings.TrimSpace(out)
	file := filepath.Join(dir, zone+"zone")
	args := append(append([]string{}, flags...), "-f", file+".signed", file, base)
	if out, err := runIn(dir, signzone, args...); err != nil {
		t.Fatalf("ldns-signzone: %v\n%s", err, out)
	}
	if err := os.Rename(file+".signed", file); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, base+".key"))
	if err != nil {
		t.Fatal(err)
	}
	rec, _, _ := strings.Cut(string(key), ";") // a comment follows
	return strings.Join(strings.Fields(rec), " ")
}

func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestIntegrationDNSSEC runs a validating Unbound in front of NSD serving
// a signed zone, a zone whose signatures have expired and an unsigned one:
// secure answers and secure denials are Authenticated, insecure ones are
// not, and a bogus one is a SERVFAIL carrying the DNSSEC Extended DNS
// Error.
func TestIntegrationDNSSEC(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	nsd := findBinary(t, "nsd")
	unbound := findBinary(t, "unbound")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	zone := func(name string) string {
		return fmt.Sprintf(`$ORIGIN %[1]s
$TTL 300
@        IN SOA ns.%[1]s hostmaster.%[1]s 1 3600 600 86400 120
@        IN NS  ns
ns       IN A   127.0.0.1
@        IN MX  10 mx
mx       IN A   192.0.2.25
_25._tcp.mx IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20
`, name)
	}
	zones := []string{"signed.test.", "expired.test.", "plain.test."}
	for _, z := range zones {
		writeFile(t, filepath.Join(dir, z+"zone"), zone(z))
	}
	anchors := "\tmodule-config: \"validator iterator\"\n\tede: yes\n\tval-log-level: 2\n"
	anchors += fmt.Sprintf("\ttrust-anchor: %q\n", signZone(t, dir, "signed.test."))
	// Signatures valid from 2020-01-01 to 2020-02-01.
	anchors += fmt.Sprintf("\ttrust-anchor: %q\n", signZone(t, dir, "expired.test.", "-i", "20200101000000", "-e", "20200201000000"))

	nsdPort, ubPort := freePort(t), freePort(t)
	writeFile(t, filepath.Join(dir, "nsd.conf"), nsdConfig(nsdPort, dir, zones...))
	startDaemon(t, dir, "nsd", []string{nsd, "-d", "-c", filepath.Join(dir, "nsd.conf")}, fmt.Sprintf("127.0.0.1:%d", nsdPort), "plain.test.")
	writeFile(t, filepath.Join(dir, "unbound.conf"), unboundConfig(ubPort, dir, nsdPort, anchors, zones...))
	addr := fmt.Sprintf("127.0.0.1:%d", ubPort)
	startDaemon(t, dir, "unbound", []string{unbound, "-d", "-c", filepath.Join(dir, "unbound.conf")}, addr, "plain.test.")

	r := mustNew(t, Config{Upstreams: []string{addr}})
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		qtype  uint16
		secure bool
		nx     bool
	}{
		{"_25._tcp.mx.signed.test", dns.TypeTLSA, true, false},
		{"mx.signed.test", dns.TypeA, true, false},
		{"signed.test", dns.TypeMX, true, false},
		{"_25._tcp.nomx.signed.test", dns.TypeTLSA, true, true}, // secure denial
		{"mx.signed.test", dns.TypeAAAA, true, false},           // secure NODATA
		{"_25._tcp.mx.plain.test", dns.TypeTLSA, false, false},
		{"nx.plain.test", dns.TypeA, false, true},
	} {
		ans, err := r.Lookup(ctx, c.name, c.qtype)
		if err != nil {
			t.Errorf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
			continue
		}
		if ans.Authenticated != c.secure || ans.NXDomain() != c.nx {
			t.Errorf("%s %s: authenticated %v, NXDOMAIN %v; want %v, %v", c.name, dns.TypeToString[c.qtype], ans.Authenticated, ans.NXDomain(), c.secure, c.nx)
		}
	}
	for range 2 { // the second from the remembered failure
		_, err := r.Lookup(ctx, "_25._tcp.mx.expired.test", dns.TypeTLSA)
		var ede *ExtendedError
		if !errors.Is(err, ErrServerFailure) || !IsTemporary(err) || !errors.As(err, &ede) || !ede.DNSSEC() {
			out, _ := os.ReadFile(filepath.Join(dir, "unbound.out"))
			t.Fatalf("expired signatures: %v; want a temporary SERVFAIL with a DNSSEC Extended DNS Error\n%s", err, out)
		}
	}
}
