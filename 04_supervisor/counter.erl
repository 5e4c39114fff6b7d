%% counter.erl - 04_supervisor: the counter as a supervised gen_server.
%%
%% Build and try it (with counter_sup.erl):
%%   erlc counter.erl counter_sup.erl && erl -noshell -eval 'counter_sup:demo(), halt().'
%% or in erl:  counter_sup:start_link(0). counter:tick(5). counter:kill().
-module(counter).
-behaviour(gen_server).
-export([start_link/1, stop/0, tick/1, read/0]).
-export([kill/0, error/0, divzero/0, nullptr/0, spin/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

%% ---- API ----------------------------------------------------------------

%% Started by counter_sup with the initial value from its child spec.
start_link(Initial) ->
    gen_server:start_link({local, counter}, counter, Initial, []).

stop() -> gen_server:cast(counter, stop).
tick(N) -> gen_server:cast(counter, {tick, N}).
read() -> gen_server:call(counter, read).

%% Four ways to crash it, and one to make it hang.
kill() -> exit(whereis(counter), kill).
error() -> gen_server:cast(counter, error).
divzero() -> gen_server:cast(counter, {divide, 0}).
nullptr() -> gen_server:cast(counter, {load, 0}).
spin() -> gen_server:cast(counter, spin).

%% ---- Callbacks ----------------------------------------------------------

init(Initial) ->
    process_flag(trap_exit, true),
    {ok, Initial}.

handle_call(read, _From, Count) -> {reply, Count, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count};
handle_cast(error, _Count) -> exit(boom);
handle_cast({divide, D}, Count) -> {noreply, Count div D};
%% Erlang has no pointers, so reading address 0 cannot be written here.
%% The counter exits as the C runtime ends a process whose read of address
%% 0 raised SIGSEGV: with reason {signal, segv}.
handle_cast({load, 0}, _Count) -> exit({signal, segv});
%% A tick that never returns; BEAM preempts it, as the C runtime does.
handle_cast(spin, Count) -> spin_forever(Count).

spin_forever(Count) -> spin_forever(Count).

handle_info(Info, Count) ->
    io:format("counter: handle_info(~0p, ~0p)~n", [Info, Count]),
    {noreply, Count}.

%% An error's reason comes with a stack trace, {badarith, Stack}, which C
%% has not: the line shows the reason alone, as the C counter prints it.
terminate(Reason, Count) ->
    io:format("counter: terminate(~0p, ~0p)~n", [without_stack(Reason), Count]).

without_stack({Reason, [{_M, _F, _A, _Where} | _]}) -> Reason;
without_stack(Reason) -> Reason.

code_change(_OldVsn, Count, _Extra) -> {ok, Count}.
