# common/stage.mk - how a stage folder builds its program.
#
# A stage Makefile sets STAGE (its folder name), PROG (the program name),
# LIB_SRCS (the chapter's modules, which the tests link too) and MAIN_SRC
# (main.c: the demo and the shell), then includes this file. It may also
# set ERL_SRCS and ERL_DEMO, the Erlang files and the call that runs their
# demo (`make erl`), and LESSON, the chapter's diff from the stage before
# as OLD:NEW pairs of files (`make diff`; /dev/null:NEW for a new file).
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

# common.mk defines the core's rules first; the stage's program is the goal.
.DEFAULT_GOAL := all

BIN := $(if $(SAN),$(BUILD)/$(STAGE),$(ROOT)/$(STAGE))
LIB_OBJS := $(patsubst %.c,$(BUILD)/$(STAGE)/%.o,$(LIB_SRCS))
MAIN_OBJ := $(patsubst %.c,$(BUILD)/$(STAGE)/%.o,$(MAIN_SRC))
STAGE_LIB := $(BUILD)/$(STAGE)/lib$(STAGE).a

all: $(BIN)/$(PROG) $(STAGE_LIB)

$(BIN)/$(PROG): $(MAIN_OBJ) $(STAGE_LIB) $(CORE)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A stage's own objects are preemptible code (common.mk's USER_TEXT).
$(BUILD)/$(STAGE)/%.o: $(ROOT)/$(STAGE)/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
	$(Q)$(call USER_TEXT,$@)

$(STAGE_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

# Runs the narrated demo.
run: $(BIN)/$(PROG)
	@$(BIN)/$(PROG)

# Opens the interactive shell.
shell: $(BIN)/$(PROG)
	@$(BIN)/$(PROG) --shell

ifdef ERL_DEMO
# Runs the Erlang demo, which prints the same session (tour.txt); its
# narration helpers are common/shell/tour.erl.
ERL_OUT := $(ROOT)/build/erl/$(STAGE)
erl:
	@mkdir -p $(ERL_OUT)
	@erlc -o $(ERL_OUT) $(ROOT)/common/shell/tour.erl $(ERL_SRCS)
	@erl -noshell -pa $(ERL_OUT) -eval '$(ERL_DEMO), halt().'
.PHONY: erl
endif

# Prints the lesson: each OLD:NEW pair of LESSON as a unified diff, with
# the command that makes it (diff's status 1, "they differ", is the point).
diff:
	@$(if $(LESSON),,echo "$(STAGE) is the first stage: read it whole, README.md first")
	@for pair in $(LESSON); do \
	    echo "\$$ diff -u $${pair%%:*} $${pair#*:}"; \
	    diff -u "$${pair%%:*}" "$${pair#*:}"; \
	done; true

clean:
	rm -f $(ROOT)/$(STAGE)/$(PROG)
	rm -rf $(ROOT)/build/*/$(STAGE)

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d)

.PHONY: all run shell diff clean
