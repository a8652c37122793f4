module github.com/maildns/maildns

go 1.25.0

require (
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
