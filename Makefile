# ekklesia-sync build.
#
# Every part is a folder of C files. Each part's non-main files become a static
# library (build/lib/lib<part>.a), its main.c becomes a program in build/bin/.
# Tests are discovered by name: tests/unit/test_*.c and tests/integration/test_*.c
# each become one cmocka program linked against every part library.
# Adding a file to a part needs no change here.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
PKGS     := rdkafka jansson libcurl libconfig libmicrohttpd openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(shell pg_config --includedir 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpq -lpthread -lm

CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
            -Wno-missing-field-initializers -Wno-format-truncation -g $(OPT) $(SAN) -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  := $(SAN) -Wl,--as-needed
DEPFLAGS  = -MMD -MP

# part folder -> program name
PROGRAMS := services/producer:member-producer \
            services/consumer:member-consumer \
            tools/memberctl:memberctl \
            tools/firestore-emulator:firestore-emulator \
            tools/seed:member-seed
# A part is built once its main.c exists.
PROGRAMS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(firstword $(subst :, ,$(p)))/main.c),$(p)))
PARTS    := common tests/support $(foreach p,$(PROGRAMS),$(firstword $(subst :, ,$(p))))

part_lib  = $(BUILD)/lib/lib$(notdir $(1)).a
part_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
objs_of   = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# Order matters for static linking: service libraries before common.
LIBS_ORDER := $(foreach p,$(PROGRAMS),$(call part_lib,$(firstword $(subst :, ,$(p))))) \
              $(call part_lib,common)
TEST_LIBS  := $(call part_lib,tests/support) $(LIBS_ORDER)

BINS := $(foreach p,$(PROGRAMS),$(BUILD)/bin/$(lastword $(subst :, ,$(p))))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(wildcard tests/integration/test_*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

.SECONDARY:
.PHONY: all bins tests asan clean test unit integration up down bootstrap fuzz bench demo-activity seed check-deploy
all: bins tests

bins: $(BINS)
tests: $(UNIT_TESTS) $(INTEG_TESTS)

# Static library per part.
define PART_RULES
$(call part_lib,$(1)): $(call objs_of,$(call part_srcs,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(foreach p,$(PARTS),$(eval $(call PART_RULES,$(p))))

# Program per part.
define PROG_RULES
$(BUILD)/bin/$(2): $(BUILD)/obj/$(1)/main.o $(LIBS_ORDER)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$< $(LIBS_ORDER) $$(PKG_LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROG_RULES,$(firstword $(subst :, ,$(p))),$(lastword $(subst :, ,$(p))))))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_LIBS) $(PKG_LIBS) -lcmocka

# Fuzzers: clang's libFuzzer, with ASan and UBSan (make fuzz).
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I. $(PKG_CFLAGS)
FUZZ_LIB_SRCS = $(foreach p,$(PARTS),$(call part_srcs,$(p)))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(filter-out tests/support/%,$(FUZZ_LIB_SRCS)) $(PKG_LIBS)
fuzz: $(FUZZERS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all

bootstrap:
	@scripts/bootstrap

test: bootstrap
	@$(MAKE) -s -j2 all
	@$(MAKE) -s -j2 asan
	@$(MAKE) -s -j2 fuzz
	@tests/run

unit: all
	@$(MAKE) -s -j2 asan
	@tests/run --unit

integration: all
	@tests/run --integration

up: bootstrap
	@$(MAKE) -s bins
	@scripts/stack up

down:
	@scripts/stack down

seed: bins
	@scripts/stack seed

demo-activity: bins
	@scripts/demo-activity

bench: bins
	@bench/run

check-deploy:
	@scripts/validate-deploy

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
