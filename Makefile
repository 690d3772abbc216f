# The two commands a newcomer needs are in README.md: `go run ./cmd/promptd serve --dev`
# and `make test`. Everything `make test` needs, it installs itself.
GO ?= go
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: test vet fmt build

## test: formatting and vet checks, then every test with the race detector
test: vet
	$(GO) test -race -count=1 ./...

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
