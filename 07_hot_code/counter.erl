%% counter.erl - the counter, version 1: a gen_server (counter) and a raw
%% receive loop, both in one module. The state is the count.
%%
%% The loop re-enters itself through a fully qualified call, ?MODULE:loop,
%% which is where a newly loaded version takes over. hot_tour.erl loads
%% counter_v2.erl (version 2 of this same module) over it.
-module(counter).
-behaviour(gen_server).
-vsn(1).

-export([start_link/0, tick/1, read/0, vsn/0, reset/0]).
-export([start_loop/0, loop/1, ask/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2, code_change/3]).

%% ---- The gen_server -------------------------------------------------------

start_link() -> gen_server:start_link({local, counter}, ?MODULE, 0, []).
tick(N) -> gen_server:cast(counter, {tick, N}).
read() -> gen_server:call(counter, read).
vsn() -> gen_server:call(counter, vsn).
reset() -> gen_server:call(counter, reset).

init(Count) -> {ok, Count}.

handle_call(read, _From, Count) -> {reply, Count, Count};
handle_call(vsn, _From, Count) -> {reply, 1, Count};
handle_call(Other, _From, Count) -> {reply, {error, {unknown_call, Other}}, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N}.

handle_info(_Msg, Count) -> {noreply, Count}.
terminate(_Reason, _Count) -> ok.

%% Version 1 knows no other layout.
code_change(_OldVsn, Count, _Extra) -> {ok, Count}.

%% ---- The raw loop ---------------------------------------------------------

start_loop() -> spawn(fun() -> loop(0) end).

loop(Count) ->
    receive
        {tick, N} -> ?MODULE:loop(Count + N);
        {read, From} -> From ! {read, self(), Count}, ?MODULE:loop(Count);
        {vsn, From} -> From ! {vsn, self(), 1}, ?MODULE:loop(Count);
        {reset, From} -> From ! {reset, self(), {error, unknown}}, ?MODULE:loop(Count)
    end.

%% Asks a loop What (read, vsn or reset) and waits for its answer.
ask(Loop, What) ->
    Loop ! {What, self()},
    receive {What, Loop, Value} -> Value after 5000 -> timeout end.
