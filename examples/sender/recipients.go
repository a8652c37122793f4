package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// A domainGroup is the recipients of one domain.
type domainGroup struct {
	// Key is the name looked up: the A-label form, lower case, without
	// the trailing dot ("xn--bcher-kva.example"). A name that is not a
	// valid IDNA name is kept as written (lower-cased); mx then rejects it.
	Key string
	// Display is the domain as first written in the list, lower-cased
	// ("bücher.example").
	Display string
	// Recipients are the addresses, in list order.
	Recipients []string
}

// maxLineBytes bounds one line of the recipient list.
const maxLineBytes = 64 << 10

// readRecipients reads a recipient list and groups the addresses by
// domain, sorted by Display. Lines that hold no address are reported to
// warn (with their line number) and counted in bad. err is a read error.
func readRecipients(r io.Reader, warn io.Writer) (groups []*domainGroup, bad int, err error) {
	byKey := make(map[string]*domainGroup)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		addr, domain, ok := parseRecipient(sc.Text())
		if addr == "" {
			continue // blank or comment
		}
		if !ok {
			fmt.Fprintf(warn, "sender: line %d: not an address, skipped: %q\n", n, addr)
			bad++
			continue
		}
		display := strings.ToLower(domain)
		key := display
		if a, err := idna.Lookup.ToASCII(display); err == nil {
			key = a
		}
		g := byKey[key]
		if g == nil {
			g = &domainGroup{Key: key, Display: display}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.Recipients = append(g.Recipients, addr)
	}
	if err := sc.Err(); err != nil {
		return nil, bad, fmt.Errorf("reading recipients: %w", err)
	}
	slices.SortFunc(groups, func(a, b *domainGroup) int { return strings.Compare(a.Display, b.Display) })
	return groups, bad, nil
}

// parseRecipient extracts the address and its domain from one line:
// "user@domain" or "Name <user@domain>". addr is "" for a blank line or
// a comment; ok is false when addr has no usable domain.
func parseRecipient(line string) (addr, domain string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	addr = line
	if i := strings.LastIndexByte(line, '<'); i >= 0 {
		if j := strings.IndexByte(line[i:], '>'); j > 0 {
			if a := strings.TrimSpace(line[i+1 : i+j]); a != "" {
				addr = a
			}
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, "", false
	}
	domain = strings.TrimSuffix(addr[at+1:], ".")
	if domain == "" || strings.ContainsAny(domain, " \t<>") {
		return addr, "", false
	}
	return addr, domain, true
}
