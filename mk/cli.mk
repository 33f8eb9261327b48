# mk/cli.mk: the pmesh command line (src/cli; build/pmesh itself is built by
# the root Makefile), its checks, the seed URL fuzz target, `make install`.

CLI_TESTS := tests/integration/cli

# --- checks ----------------------------------------------------------------
CHECKS += check-cli-args check-cli-render check-cli-tty check-cli-e2e \
          check-cli-fuzz-corpus check-cli-install
.PHONY: check-cli-args check-cli-render check-cli-tty check-cli-e2e \
        check-cli-fuzz-corpus check-cli-install fuzz-seedurl

# The table of bad command lines (and a few good ones): exit code and the
# one-line message of each.
check-cli-args: $(BUILD)/pmesh
	@$(RUN) cli/args 120 $(CLI_TESTS)/run.sh $(BUILD)/pmesh \
	    $(CLI_TESTS)/bad_args.tsv

# Every reply shape rendered against a fake node with canned replies
# (compared with render.expected), error statuses to exit codes, and `set`
# retried with the same request id.
check-cli-render: $(BUILD)/pmesh $(BUILD)/tests/cli_fake_node
	@$(RUN) cli/render 60 $(CLI_TESTS)/render.sh $(BUILD)/pmesh \
	    $(BUILD)/tests/cli_fake_node

# `setup` and force-recover on a terminal (a pty from script(1)).
check-cli-tty: $(BUILD)/pmesh
	@$(RUN) cli/tty 60 $(CLI_TESTS)/interactive.sh $(BUILD)/pmesh

# A real one-node mesh: every data command's output and exit codes.
check-cli-e2e: $(BUILD)/pmesh
	@$(RUN) cli/e2e 60 $(CLI_TESTS)/e2e.sh $(BUILD)/pmesh

# The fuzz target over its committed corpus plus a few seconds of fresh
# inputs (a scratch corpus in $(BUILD)), so the round-trip checks run in
# every `make test`. `make fuzz` runs it for FUZZ_SECONDS.
check-cli-fuzz-corpus: $(BUILD)/fuzz/fuzz_seedurl
	@rm -rf $(BUILD)/fuzz/seedurl-scratch && mkdir -p $(BUILD)/fuzz/seedurl-scratch
	@$(RUN) cli/fuzz-seedurl 60 $(BUILD)/fuzz/fuzz_seedurl \
	    -max_total_time=1 -max_len=4500 -rss_limit_mb=1024 \
	    -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/seedurl-scratch tests/fuzz/corpus/seedurl

# `make install` into a scratch DESTDIR: every file lands with its mode and
# the unit points at the installed binary.
check-cli-install: $(BUILD)/pmesh
	@$(RUN) cli/install 60 $(CLI_TESTS)/install.sh $(BUILD)

# --- fuzzing ---------------------------------------------------------------
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -g -O1
SEEDURL_SRCS := src/base/seedurl.c src/base/err.c

$(BUILD)/fuzz/fuzz_seedurl: tests/fuzz/fuzz_seedurl.c $(SEEDURL_SRCS) src/base/seedurl.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -D_GNU_SOURCE -Isrc -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) \
	    -o $@ tests/fuzz/fuzz_seedurl.c $(SEEDURL_SRCS) -lsodium

fuzz: fuzz-seedurl
fuzz-seedurl: $(BUILD)/fuzz/fuzz_seedurl
	@mkdir -p $(BUILD)/fuzz/seedurl-corpus
	$(BUILD)/fuzz/fuzz_seedurl -max_total_time=$(FUZZ_SECONDS) -max_len=4500 \
	    -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/seedurl-corpus tests/fuzz/corpus/seedurl

# --- install ---------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the man page, and
# the example systemd unit (its paths rewritten for PREFIX) under share/doc.
PREFIX  ?= /usr/local
DESTDIR ?=

install: $(BUILD)/pmesh
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/doc/pmesh
	install -m 0755 $(BUILD)/pmesh $(DESTDIR)$(PREFIX)/bin/pmesh
	install -m 0644 docs/pmesh.1 $(DESTDIR)$(PREFIX)/share/man/man1/pmesh.1
	sed 's|/usr/local/bin/pmesh|$(PREFIX)/bin/pmesh|g' contrib/pmesh.service \
	    >$(DESTDIR)$(PREFIX)/share/doc/pmesh/pmesh.service
	chmod 0644 $(DESTDIR)$(PREFIX)/share/doc/pmesh/pmesh.service

# --- the fake node (canned control replies) for the rendering test ---------
$(BUILD)/tests/cli_fake_node: tests/integration/cli/fake_node.c $(call mod_libs,net)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(call mod_libs,net) $(LDFLAGS) $(LDLIBS)
