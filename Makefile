# The two commands a new user needs (README): `make run` and `make test`.
# Both install what they need first (scripts/install-deps.sh is idempotent).
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
LISTEN    ?= 127.0.0.1:8080
DICOM_LISTEN ?= 127.0.0.1:11112
DATA_DIR  ?= ./imgpipe-data
CMAKE_GEN := -G Ninja

.PHONY: all deps build build-asan web test-tools run test test-unit test-asan bench format clean

all: build

deps:
	scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(ASAN_DIR)/build.ninja:
	cmake -S . -B $(ASAN_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DIMGPIPE_SANITIZE=ON

build-asan: deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j $(JOBS)

# The browser frontend (web/ -> web/dist), served by imgpipe at /.
web: deps
	scripts/build-web.sh

# npm tools the tests start as separate processes (s3rver for the S3 blob store tests).
test-tools: deps
	scripts/install-test-tools.sh

# Starts imgpipe with demo data on http://127.0.0.1:8080 (Ctrl-C stops it cleanly), its DICOM
# listener on 127.0.0.1:11112 (AE IMGPIPE) and the example automatic processing rules: a CT CHEST
# or MR HEAD series sent with storescu is processed once it is quiet.
run: build web
	$(BUILD_DIR)/src/app/imgpipe serve --demo --listen $(LISTEN) --data-dir $(DATA_DIR) \
	  --dicom-listen $(DICOM_LISTEN) --rules-file examples/dicom/rules.json

# Every test: unit + integration in the normal build, then the same under ASan+UBSan.
test: test-unit test-asan

test-unit: build web test-tools
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan web test-tools
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Side-by-side benchmark against Orthanc (installs orthanc and wrk; see bench/README.md).
bench: build
	IMGPIPE_BENCH_DEPS=1 scripts/install-deps.sh
	IMGPIPE_BIN=$(BUILD_DIR)/src/app/imgpipe bench/pacs_vs_orthanc.sh

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
