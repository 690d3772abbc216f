package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
)

// tcpProxy forwards connections from a port on 127.0.0.1 to a PostgreSQL server, and can be
// cut (the port refuses connections, open ones are closed) and restored on the same port:
// what a store sees while PostgreSQL restarts.
type tcpProxy struct {
	t      *testing.T
	addr   string // 127.0.0.1:port, stable across cut and restore
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, addr: ln.Addr().String(), target: target}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listening port and every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens on the same port again.
func (p *tcpProxy) restore() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("listening on %s again: %v", p.addr, err)
}

// TestUnreachable cuts the connection to PostgreSQL under an open store: reads, writes and
// Ping fail with EUNAVAILABLE (not an internal error), and all work again by themselves once
// the server is back.
func TestUnreachable(t *testing.T) {
	pgtest.Require(t)
	t.Parallel()
	raw := pgtest.URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	s := open(t, u.String())
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, "before"); err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.CreateProject(cctx, "during"); promptd.ErrorKind(err) != promptd.EUNAVAILABLE {
		t.Errorf("write while PostgreSQL is unreachable: %v (kind %q), want %q", err, promptd.ErrorKind(err), promptd.EUNAVAILABLE)
	}
	if _, err := s.ListProjects(cctx); promptd.ErrorKind(err) != promptd.EUNAVAILABLE {
		t.Errorf("read while PostgreSQL is unreachable: %v (kind %q), want %q", err, promptd.ErrorKind(err), promptd.EUNAVAILABLE)
	}
	if err := s.Ping(cctx); promptd.ErrorKind(err) != promptd.EUNAVAILABLE {
		t.Errorf("Ping while PostgreSQL is unreachable: %v, want an EUNAVAILABLE error", err)
	}

	proxy.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping 10 s after PostgreSQL came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.CreateProject(ctx, "after"); err != nil {
		t.Fatalf("write after PostgreSQL came back: %v", err)
	}
}

// TestFaultCodes checks the classification of the server's error codes.
func TestFaultCodes(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{
		"53100": promptd.EFULL,
		"57P01": promptd.EUNAVAILABLE, "57P02": promptd.EUNAVAILABLE, "57P03": promptd.EUNAVAILABLE,
		"08006": promptd.EUNAVAILABLE, "53300": promptd.EUNAVAILABLE,
		"23505": "", "42P01": "",
	} {
		err := fmt.Errorf("op: %w", &pgconn.PgError{Code: code})
		if got := fault(err); got != want {
			t.Errorf("fault(SQLSTATE %s) = %q, want %q", code, got, want)
		}
	}
	if got := fault(errors.New("some error")); got != "" {
		t.Errorf("fault(plain error) = %q, want none", got)
	}
}
