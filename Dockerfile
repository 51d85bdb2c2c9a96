# syntax=docker/dockerfile:1
# Base images are pinned by exact tag and digest (the digests are those the
# registries published for these tags; refresh both together, e.g. with
# `crane digest golang:1.26.8-bookworm`). Keep the Go patch in step with go.mod.
FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context (.dockerignore): pass what the go command
# would otherwise stamp from it, e.g.
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/consentry ./cmd/consentry \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/consentry /consentry
# The data directory (generated keys, the embedded rights registry) belongs
# to the non-root user; mount a volume there to keep it across containers.
COPY --from=build --chown=65532:65532 /out/data /var/lib/consentry
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
VOLUME /var/lib/consentry
EXPOSE 8080 9090
ENTRYPOINT ["/consentry"]
# Listens on every interface inside the container; the admin port (health,
# metrics, rights API) must stay on a private network. Profiling is not
# enabled by this command.
CMD ["serve", "--config", "/etc/consentry/consentry.yaml", "--listen", ":8080", "--admin", ":9090", "--data", "/var/lib/consentry"]
