%% counter.erl - 02_rpc: the counter behind a functional rpc interface.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start(). counter:tick(5). counter:read().
-module(counter).
-export([start/0, stop/0, tick/1, read/0, slow/2, demo/0]).
-export([rpc_call/3, rpc_cast/2, loop/1]).

-define(TIMEOUT, 5000).

start() ->
    register(counter, spawn(counter, loop, [0])).

stop() ->
    rpc_cast(counter, stop).

tick(N) ->
    rpc_cast(counter, {tick, N}).

read() ->
    rpc_call(counter, read, ?TIMEOUT).

%% A request that keeps the counter busy Ms ms; raises timeout when Ms is
%% longer than Timeout, and the reply, ok, comes later.
slow(Ms, Timeout) ->
    rpc_call(counter, {sleep, Ms}, Timeout).

%% Tags the request with a fresh reference and takes only the reply that
%% carries it; every other message stays in the mailbox. Gives up after
%% Timeout ms (a reply that comes later stays in the mailbox).
rpc_call(Server, Msg, Timeout) ->
    Ref = make_ref(),
    Server ! {Msg, {self(), Ref}},
    receive
        {Ref, Reply} -> Reply
    after Timeout ->
        erlang:error(timeout)
    end.

rpc_cast(Server, Msg) ->
    Server ! {Msg, self()},
    ok.

rpc_reply({Pid, Ref}, Reply) ->
    Pid ! {Ref, Reply}.

loop(N) ->
    receive
        {stop, _From} ->
            ok;
        {{tick, T}, _From} ->
            loop(N + T);
        {read, From} ->
            rpc_reply(From, N),
            loop(N);
        {{sleep, Ms}, From} ->
            timer:sleep(Ms),
            rpc_reply(From, ok),
            loop(N);
        _Other ->
            loop(N)
    end.

%% ---- The demo: the session 02_rpc/counter prints (tour.txt) ----------
%% It prints the same transcript as the C program, through tour.erl
%% (common/shell/): run it as the README says.

demo() ->
    tour:start(),
    tour:say("Same counter, same API; the sends and receives now live in rpc."),
    tour:say("read() sends {read, {self(), Ref}}, Ref a fresh reference, and"),
    tour:say("takes only {Ref, Count}: a selective receive on the tag."),
    tour:show("counter:start().", fun start/0),
    tour:show("counter:tick(2).", fun() -> tick(2) end),
    tour:show("counter:tick(3).", fun() -> tick(3) end),
    tour:show("counter:read().", fun read/0),
    tour:say("01's trap: a stray message in our mailbox before the read."),
    tour:show("self() ! 999.", fun() -> self() ! 999 end),
    tour:show("counter:read().", fun read/0),
    tour:say("read() returned the count; the stray is still there, untouched:"),
    tour:flush(),
    tour:say("A call gives up after its timeout. slow(300, 100) keeps the"),
    tour:say("counter busy 300 ms, but waits only 100 ms for the reply:"),
    tour:show("counter:slow(300, 100).", fun() -> slow(300, 100) end),
    tour:say("The counter goes on and answers; read() waits its turn:"),
    tour:show("counter:read().", fun read/0),
    tour:say("The late reply is in our mailbox, tagged with a Ref that no"),
    tour:say("receive will ask for again:"),
    tour:flush(),
    Pid = whereis(counter),
    Ref = monitor(process, Pid),
    tour:say("Now stop the server, keeping its pid:"),
    tour:show("Pid = whereis(counter).", fun() -> Pid end),
    tour:show("counter:stop().", fun stop/0),
    receive {'DOWN', Ref, process, Pid, _} -> ok end,
    tour:say("The server is gone. A call to its old pid is sent into the void;"),
    tour:say("instead of waiting forever, rpc_call gives up after its timeout:"),
    tour:show("counter:rpc_call(Pid, read, 500).",
              fun() -> rpc_call(Pid, read, 500) end),
    tour:say("By name, the send itself fails, as in 01:"),
    tour:show("counter:read().", fun read/0),
    tour:say("gen_server_lite: the loop made generic, the counter reduced to"),
    tour:say("callbacks handle_call(read), handle_cast({tick, N}), handle_cast(stop)."),
    tour:show("counter_lite:start().", fun counter_lite:start/0),
    tour:show("counter_lite:tick(7).", fun() -> counter_lite:tick(7) end),
    tour:show("counter_lite:read().", fun counter_lite:read/0),
    tour:show("counter_lite:stop().", fun counter_lite:stop/0),
    tour:say("03_gen_server replaces it with the real behaviour."),
    tour:say("Try it yourself: 02_rpc/counter --shell").
