# common/common.mk - build settings every stage and the tests share.
#
# Include it from a Makefile one level below the project root. It defines:
#   ROOT     the project root
#   SAN      sanitizers to build with (address,undefined or thread); empty: none
#   BUILD    where objects go: build/plain, or build/<sanitizers>
#   BIN      where a stage's program goes: the stage folder, or BUILD/<stage>
#   CORE     the core library (common/), with the rule that builds it
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
comma := ,
VARIANT := $(if $(SAN),$(subst $(comma),-,$(SAN)),plain)
BUILD := $(ROOT)/build/$(VARIANT)

CC ?= cc
OPT ?= -O2
# -fstack-clash-protection: a frame larger than a page touches every page on
# its way down, so a stack overflow always lands in the guard gap below the
# stack (common/runtime/fiber.h) and never jumps over it into the next stack.
# The core's layers, lowest first: a file uses only its own layer and those
# below it (`make layers` checks the includes). Each layer's headers are on
# the include path, so stage code writes #include "erl.h".
LAYERS := runtime otp node cluster code shell
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -pthread \
          -fstack-clash-protection $(LAYERS:%=-I$(ROOT)/common/%) -MMD -MP
LDFLAGS :=
LDLIBS := -pthread -ldl -lei -lraft -luv
ifneq ($(SAN),)
CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -DERL_SANITIZE
LDFLAGS += -fsanitize=$(SAN)
endif

CORE_SRCS := $(sort $(foreach l,$(LAYERS),$(wildcard $(ROOT)/common/$(l)/*.c)))
CORE_ASM := $(wildcard $(ROOT)/common/runtime/*_$(shell uname -m).S)
CORE_OBJS := $(patsubst $(ROOT)/%.c,$(BUILD)/%.o,$(CORE_SRCS)) \
             $(patsubst $(ROOT)/%.S,$(BUILD)/%.o,$(CORE_ASM))
CORE := $(BUILD)/common/libcore.a

# Build lines are short (CC common/runtime/sched.c); V=1 shows them whole.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-4s %s\n' $(1) $(patsubst $(ROOT)/%,%,$(2))
endif

# The preemptible code: the text of the stages' and tests' own objects, moved
# into the section erl_user_text after compiling (stage.mk, tests/Makefile).
# The linker brackets it with __start_erl_user_text and __stop_erl_user_text,
# which the preemption handler checks the interrupted instruction against
# (common/runtime/preempt.c); the core, libc and every library stay outside.
USER_SECTION := alloc,load,readonly,code,contents
USER_TEXT = objcopy $(foreach t,.text .text.unlikely .text.hot .text.startup .text.exit,\
            --rename-section $(t)=erl_user_text,$(USER_SECTION)) $(1)

# A module the code server loads (07_hot_code's, the tests' hot_spin.so):
# position-independent, only its table visible, the same sanitizer flags as
# the program that loads it, its text preemptible as the program's is (the
# code server hands erl_user_text's range to preemption when it loads it).
# USER_SO SOURCE, OBJECT, EXTRA_FLAGS compiles, renames the text, links the
# shared object under a temporary name and renames it into place, so a
# program watching the folder never loads a half-written file.
USER_SO = $(CC) $(filter-out -MMD -MP,$(CFLAGS)) -fPIC -fvisibility=hidden $(3) -c $(1) -o $(2).o && \
          $(call USER_TEXT,$(2).o) && $(CC) -shared $(LDFLAGS) $(2).o -o $(2).tmp && \
          rm -f $(2).o && mv -f $(2).tmp $(2)

$(CORE): $(CORE_OBJS)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/%.o: $(ROOT)/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: $(ROOT)/%.S
	@mkdir -p $(@D)
	$(call say,AS,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

-include $(CORE_OBJS:.o=.d)
