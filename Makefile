# The two commands a newcomer needs are in README.md: `go run ./cmd/promptd serve --dev`
# and `make test`. Everything `make test` needs, it installs itself.
GO ?= go
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: test vet fmt build bench chromium

## test: formatting and vet checks, then every test with the race detector
test: vet chromium
	$(GO) test -race -count=1 ./...

## chromium: the browser the dashboard's browser tests drive, and npm, which installs the
## accessibility checker they run in it (Debian's packages; needs root)
chromium:
	@command -v chromium >/dev/null || (echo "installing chromium for the dashboard's browser tests…" && \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v npm >/dev/null || (echo "installing npm for the dashboard's accessibility check…" && \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)

## vet: gofmt must have nothing to say, go vet must be clean
vet:
	@unformatted="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## fmt: format every Go file
fmt:
	gofmt -w $(GOFILES)

## build: the promptd binary in bin/
build:
	$(GO) build -o bin/promptd ./cmd/promptd

## bench: a short pass (under 3 minutes) over the delivery benchmark scenarios (not postgres1
## and crash: see docs/benchmarks.md); not part of
## make test. Full runs and the measured figures: docs/benchmarks.md
bench:
	$(GO) run ./cmd/promptd-bench -scenario all -duration 5s -backlog 20000 -drain-timeout 30s
