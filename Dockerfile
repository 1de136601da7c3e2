# syntax=docker/dockerfile:1
#
# mxroute container image: a static Go binary on distroless, running as the
# distroless "nonroot" user (65532). Build with BuildKit (docker buildx build
# or DOCKER_BUILDKIT=1): the cache mounts keep the module and build caches
# between builds without putting them in a layer.
#
#   docker buildx build -t mxroute:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO/mxroute:TAG --push .

# The builder runs on the build host's platform and cross-compiles: with
# CGO_ENABLED=0 that is as good as a native build and much faster than
# building under emulation for foreign platforms.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
# The golang images set GOTOOLCHAIN=local; auto lets an older cached 1.26.x
# image fetch the patch release go.mod asks for instead of failing.
ENV GOTOOLCHAIN=auto
WORKDIR /src

# Modules first, in their own layer, so a code-only change does not
# download them again even when the cache mount is cold.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# TARGETOS and TARGETARCH are set by BuildKit from --platform; under the
# legacy builder they are empty and Go builds for the host, which is what
# that builder runs anyway.
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /mxroute ./cmd/mxroute

# static-debian12 has CA certificates, /etc/passwd with nonroot and tzdata,
# and nothing else: no shell, no package manager. The :nonroot tag already
# runs as 65532; USER repeats it numerically so Kubernetes' runAsNonRoot
# check can verify it without reading /etc/passwd.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="mxroute" \
      org.opencontainers.image.description="RFC 5321 MX delivery plans over HTTP, with fleet-wide failure state in Redis" \
      org.opencontainers.image.source="https://github.com/mxroute/mxroute"
COPY --from=build /mxroute /mxroute
# The binary embeds both files; these copies are for operators to read or
# to point MXROUTE_ZONE_FILES at a file they can see inside the container.
COPY zones/demo.zone /etc/mxroute/zones/demo.zone
COPY api/openapi.yaml /etc/mxroute/openapi.yaml
# The binary's default answers the demo zone (example.com, *.example and a
# 172.16/16 reverse zone) locally so `make run` works offline; a deployed
# image must not shadow real DNS, so it starts with no local zones. Point
# MXROUTE_ZONE_FILES at real files, or at /etc/mxroute/zones/demo.zone to
# try the demo.
ENV MXROUTE_ZONE_FILES=none
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/mxroute"]
