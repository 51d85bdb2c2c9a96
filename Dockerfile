# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/consentry ./cmd/consentry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/consentry /consentry
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/consentry"]
CMD ["serve", "--config", "/etc/consentry/consentry.yaml", "--listen", ":8080", "--admin", ":9090"]
