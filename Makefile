# The counter study, stage by stage.
#
#   make              build every stage
#   make run          the tour: each stage's narrated demo, in order
#   make test         install what is missing, build, run every suite
#   make test-03      one stage's suite (test-core: the runtime's own)
#   make exercise-03  a stage's exercises: each fails until it is done
#   make stress       the randomized soak of the core (20 s; see tests/stress.c)
#   make bench        the benchmarks, C against BEAM
#   make layers       checks that no file of common/ includes a layer above its own
#   make SAN=address,undefined test   or   make SAN=thread test
# A stage is a numbered folder with a Makefile (a chapter whose C program
# has not come yet holds only its Erlang side).
STAGES := $(sort $(patsubst %/Makefile,%,$(wildcard [0-9][0-9]_*/Makefile)))
export SAN
# Sub-makes say only what they build ("CC common/runtime/sched.c"), never
# "Nothing to be done"; V=1 shows every command whole.
SUB := --no-print-directory $(if $(filter 1,$(V)),,-s)

all: $(STAGES)

# The core is built once, first; each stage then finds it up to date.
core:
	@$(MAKE) $(SUB) -C common

$(STAGES): core
	@$(MAKE) $(SUB) -C $@

run: all
	@for s in $(STAGES); do \
	    printf '\n==================== %s ====================\n' $$s; \
	    $(MAKE) --no-print-directory -s -C $$s run || exit 1; \
	done
	@printf '\nNext: make test (every suite), or <stage>/<program> --shell\n'

deps:
	@bash .ci/deps

test: deps layers
	@$(MAKE) --no-print-directory -C tests test

test-%: deps
	@$(MAKE) --no-print-directory -C tests test-$*

# A stage's exercises (its README): they fail until done. make exercise-01
exercise-%: deps
	@$(MAKE) --no-print-directory -C tests exercise-$*

stress: deps
	@$(MAKE) --no-print-directory -C tests stress

# The benchmarks need CAF too (deps bench); nothing else does.
bench:
	@bash .ci/deps bench
	@$(MAKE) --no-print-directory -C tests bench

clean:
	rm -rf build
	@for s in $(STAGES); do $(MAKE) --no-print-directory -s -C $$s clean; done

layers:
	@$(MAKE) --no-print-directory -C common layers

.PHONY: layers all core run deps test stress bench clean $(STAGES)
