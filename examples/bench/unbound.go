package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// unboundPath returns the path of the unbound binary, or "" if it is not
// installed. Distributions put it in sbin, which may not be on PATH.
func unboundPath() string {
	if p, err := exec.LookPath("unbound"); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, "unbound")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// unboundVersion returns the version line of unbound -V, or "".
func unboundVersion(path string) string {
	out, err := exec.Command(path, "-V").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// unbound is an Unbound process started for one run: a caching recursive
// resolver on a loopback port whose only upstream, for zoneApex, is the
// test server.
type unbound struct {
	Addr string // "127.0.0.1:port"

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	dir    string        // its directory: configuration and output
}

// unboundConf is the configuration: one thread, caches large enough for
// the workload, serve-expired on (RFC 8767, as maildns does), no DNSSEC
// validation (the test zone is unsigned) and no QNAME minimisation (the
// test server is the zone's only server).
const unboundConf = `server:
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
	verbosity: 0
	module-config: "iterator"
	qname-minimisation: no
	num-threads: 1
	num-queries-per-thread: 4096
	msg-cache-size: 64m
	rrset-cache-size: 128m
	serve-expired: yes
	# test. is special-use (RFC 6761): Unbound answers NXDOMAIN for it
	# unless told otherwise.
	local-zone: "test." nodefault
stub-zone:
	name: "%[3]s"
	stub-addr: %[4]s@%[5]s
remote-control:
	control-enable: no
`

// startUnbound starts Unbound in a new directory under tmp, forwarding
// zoneApex to upstream, and waits until it answers.
func startUnbound(tmp, upstream string) (*unbound, error) {
	path := unboundPath()
	if path == "" {
		return nil, errors.New("unbound is not installed")
	}
	dir, err := os.MkdirTemp(tmp, "unbound")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		return nil, err
	}
	ubPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, unboundConf, ubPort, dir, zoneApex, host, port), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "unbound.out"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	u := &unbound{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ubPort)), dir: dir, exited: make(chan struct{})}
	u.cmd = exec.Command(path, "-d", "-c", conf)
	u.cmd.Stdout, u.cmd.Stderr = logf, logf
	if err := u.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting unbound: %w", err)
	}
	go func() { u.cmd.Wait(); close(u.exited) }()
	output := func() string {
		b, _ := os.ReadFile(logf.Name())
		return strings.TrimSpace(string(b))
	}
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg).SetQuestion(zoneApex, dns.TypeSOA)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, _, err := c.Exchange(q, u.Addr); err == nil && m.Rcode == dns.RcodeSuccess {
			return u, nil
		}
		select {
		case <-u.exited:
			out := output()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("unbound exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			out := output()
			u.Close()
			return nil, fmt.Errorf("unbound did not answer on %s: %s", u.Addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PeakRSS returns Unbound's peak resident set size (VmHWM), or 0 if it
// cannot be read.
func (u *unbound) PeakRSS() uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", u.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Close stops Unbound and removes its directory.
func (u *unbound) Close() error {
	u.cmd.Process.Kill()
	<-u.exited
	return os.RemoveAll(u.dir)
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port on 127.0.0.1")
}
