%% counter_v2.erl - the counter, version 2: module counter again (this file
%% is compiled to counter.beam over version 1's; see hot_tour.erl). It adds
%% reset and keeps {counter, Count, Resets}, Resets counting the resets.
%% code_change converts both ways; the raw loop, which has no code_change,
%% takes version 1's integer state as it enters.
-module(counter).
-behaviour(gen_server).
-vsn(2).

-export([start_link/0, tick/1, read/0, vsn/0, reset/0, resets/0]).
-export([start_loop/0, loop/1, ask/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2, code_change/3]).

%% ---- The gen_server -------------------------------------------------------

start_link() -> gen_server:start_link({local, counter}, ?MODULE, 0, []).
tick(N) -> gen_server:cast(counter, {tick, N}).
read() -> gen_server:call(counter, read).
vsn() -> gen_server:call(counter, vsn).
reset() -> gen_server:call(counter, reset).
resets() -> gen_server:call(counter, resets).

init(Count) -> {ok, {counter, Count, 0}}.

handle_call(read, _From, {counter, C, _} = S) -> {reply, C, S};
handle_call(vsn, _From, S) -> {reply, 2, S};
handle_call(resets, _From, {counter, _, R} = S) -> {reply, R, S};
handle_call(reset, _From, {counter, _, R}) -> {reply, ok, {counter, 0, R + 1}};
handle_call(Other, _From, S) -> {reply, {error, {unknown_call, Other}}, S}.

handle_cast({tick, N}, {counter, C, R}) -> {noreply, {counter, C + N, R}}.

handle_info(_Msg, S) -> {noreply, S}.
terminate(_Reason, _S) -> ok.

%% Upgrade from 1: the count gains a reset counter. Downgrade to 1 (called in
%% this version, before version 1 is loaded back): the count alone.
code_change(1, Count, _Extra) -> {ok, {counter, Count, 0}};
code_change({down, 1}, {counter, Count, _}, _Extra) -> {ok, Count}.

%% ---- The raw loop ---------------------------------------------------------

start_loop() -> spawn(fun() -> loop({counter, 0, 0}) end).

loop(Count) when is_integer(Count) ->           % entered from version 1
    loop({counter, Count, 0});
loop({counter, C, R} = S) ->
    receive
        {tick, N} -> ?MODULE:loop({counter, C + N, R});
        {read, From} -> From ! {read, self(), C}, ?MODULE:loop(S);
        {vsn, From} -> From ! {vsn, self(), 2}, ?MODULE:loop(S);
        {reset, From} -> From ! {reset, self(), ok}, ?MODULE:loop({counter, 0, R + 1})
    end.

ask(Loop, What) ->
    Loop ! {What, self()},
    receive {What, Loop, Value} -> Value after 5000 -> timeout end.
