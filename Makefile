# bafomet — build, test, container image and the docker end-to-end run.
#
#   make build                 the bafomet binary in ./bafomet
#   make test                  the README's test command (go test ./...)
#   make image                 the bafomet:dev image, FROM scratch, offline
#   make e2e                   image, then the short fixed docker fault sequence
#   make e2e SEED=7 DURATION=30m   a seeded random sequence for DURATION
#   make fuzz FUZZTIME=10m     every fuzz target for FUZZTIME (scripts/fuzz.sh)
#
# See docs/operations.md ("Container image", "Fault injection").

GO        ?= go
IMAGE     ?= bafomet:dev
BINARY    ?= bafomet
SEED      ?=
DURATION  ?=
# A long run has its own deadline (DURATION); the short one must finish in 15m.
E2E_TIMEOUT ?= $(if $(DURATION),0,15m)

# The image's binary: cgo kept for libsecp256k1, linked statically so that it
# runs FROM scratch (netgo and osusergo keep glibc's resolver and user lookup
# out of the link).
STATIC_TAGS    := netgo,osusergo
STATIC_LDFLAGS := -linkmode external -extldflags "-static"

.PHONY: build test fuzz image e2e

build:
	$(GO) build -o $(BINARY) ./cmd/bafomet

test:
	$(GO) test ./...

FUZZTIME ?= 10m
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# The build context is a fresh temporary directory holding only the binary,
# docker/Dockerfile, /etc/passwd and /etc/group for user 10001, and an empty
# home; --pull=false and FROM scratch mean nothing is fetched.
image:
	@set -eu; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	echo "building static binary"; \
	CGO_ENABLED=1 $(GO) build -trimpath -tags $(STATIC_TAGS) \
		-ldflags '$(STATIC_LDFLAGS)' -o "$$ctx/bafomet" ./cmd/bafomet; \
	cp docker/Dockerfile docker/passwd docker/group "$$ctx/"; \
	mkdir "$$ctx/home"; \
	docker build --pull=false -t $(IMAGE) "$$ctx"

# The docker driver's files are compiled on their own (they share nothing
# with the process-level tests in test/e2e), so an unrelated test file there
# cannot keep the run from building.
E2E_DOCKER_FILES := $(wildcard test/e2e/docker*_test.go)

e2e: image
	BAFOMET_E2E_DOCKER=1 BAFOMET_E2E_IMAGE=$(IMAGE) \
	BAFOMET_E2E_SEED=$(SEED) BAFOMET_E2E_DURATION=$(DURATION) \
		$(GO) test -run '^TestDocker' -count=1 -v -timeout $(E2E_TIMEOUT) $(addprefix ./,$(E2E_DOCKER_FILES))
