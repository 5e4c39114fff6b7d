%% counter.erl - 04_supervisor: the counter as a supervised gen_server.
%%
%% Build and try it (with counter_sup.erl):
%%   erlc counter.erl counter_sup.erl && erl -noshell -eval 'counter_sup:demo(), halt().'
%% or in erl:  counter_sup:start_link(0). counter:tick(5). counter:kill().
-module(counter).
-behaviour(gen_server).
-export([start_link/1, stop/0, tick/1, read/0]).
-export([kill/0, error/0, divzero/0, nullptr/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

%% ---- API ----------------------------------------------------------------

%% Started by counter_sup with the initial value from its child spec.
start_link(Initial) ->
    gen_server:start_link({local, counter}, counter, Initial, []).

stop() -> gen_server:cast(counter, stop).
tick(N) -> gen_server:cast(counter, {tick, N}).
read() -> gen_server:call(counter, read).

%% Four ways to crash it.
kill() -> exit(whereis(counter), kill).
error() -> gen_server:cast(counter, error).
divzero() -> gen_server:cast(counter, {divide, 0}).
%% Erlang has no pointers: the nearest thing to reading address 0 is a
%% badarg from a BIF given nonsense.
nullptr() -> gen_server:cast(counter, {load, 0}).

%% ---- Callbacks ----------------------------------------------------------

init(Initial) ->
    process_flag(trap_exit, true),
    {ok, Initial}.

handle_call(read, _From, Count) -> {reply, Count, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count};
handle_cast(error, _Count) -> exit(boom);
handle_cast({divide, D}, Count) -> {noreply, Count div D};
handle_cast({load, Addr}, Count) -> {noreply, Count + binary:at(<<>>, Addr)}.

handle_info(Info, Count) ->
    io:format("counter: handle_info(~p, ~p)~n", [Info, Count]),
    {noreply, Count}.

terminate(Reason, Count) ->
    io:format("counter: terminate(~p, ~p)~n", [Reason, Count]).

code_change(_OldVsn, Count, _Extra) -> {ok, Count}.
