%% counter.erl - 03_gen_server: the counter as a gen_server.
%%
%% Build and try it:
%%   erlc counter.erl && erl -noshell -eval 'counter:demo(), halt().'
%% or in erl:  c(counter). counter:start_link(). counter:tick(5). counter:read().
-module(counter).
-behaviour(gen_server).
-export([start_link/0, stop/0, tick/1, read/0, crash/0, slow/2]).
-export([demo/0, client/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

%% ---- API ----------------------------------------------------------------

%% {ok, Pid}, or {error, {already_started, Pid}}.
start_link() ->
    gen_server:start_link({local, counter}, counter, 0, []).

stop() -> gen_server:cast(counter, stop).

tick(N) -> gen_server:cast(counter, {tick, N}).

%% Exits the caller with noproc, timeout or the server's reason on failure.
read() -> gen_server:call(counter, read).

crash() -> gen_server:cast(counter, crash).

%% A call that keeps the server busy Ms milliseconds; fails with timeout
%% when Ms is longer than Timeout.
slow(Ms, Timeout) -> gen_server:call(counter, {sleep, Ms}, Timeout).

%% ---- Callbacks ----------------------------------------------------------

init(Initial) -> {ok, Initial}.

handle_call(read, _From, Count) -> {reply, Count, Count};
handle_call({sleep, Ms}, _From, Count) ->
    timer:sleep(Ms),
    {reply, ok, Count}.

handle_cast({tick, N}, Count) -> {noreply, Count + N};
handle_cast(stop, Count) -> {stop, normal, Count};
handle_cast(crash, Count) -> {stop, boom, Count}.

handle_info(_Info, Count) -> {noreply, Count}.

terminate(_Reason, _Count) -> ok.

code_change(_OldVsn, Count, _Extra) -> {ok, Count}.

%% ---- The demo: the session 03_gen_server/counter prints (tour.txt) ---
%% It prints the same transcript as the C program, through tour.erl
%% (common/shell/): run it as the README says.

demo() ->
    tour:start(),
    tour:say("gen_server owns the process, the loop, replies and timeouts;"),
    tour:say("counter.c holds only init, handle_call, handle_cast, code_change."),
    tour:show("counter:start_link().", fun start_link/0),
    tour:show("counter:tick(2).", fun() -> tick(2) end),
    tour:show("counter:tick(3).", fun() -> tick(3) end),
    tour:say("read is a call: {'$gen_call', {self(), [alias|Ref]}, read}, answered"),
    tour:say("{[alias|Ref], 5} through the alias, as on OTP 24+:"),
    tour:show("counter:read().", fun read/0),
    tour:say("sys looks inside a running server. Trace on, then tick and read:"),
    tour:say("the *DBG* lines are the server's own view, printed by the server."),
    tour:show("sys:trace(counter, true).", fun() -> sys:trace(counter, true) end),
    tour:before("counter:tick(5).", ok, fun() -> tick(5) end),
    await_idle(),                       % its *DBG* lines are out
    tour:call("counter:read().", fun() -> R = read(), await_idle(), R end),
    tour:show("sys:trace(counter, false).", fun() -> sys:trace(counter, false) end),
    tour:show("sys:get_state(counter).", fun() -> sys:get_state(counter) end),
    tour:say("stop is a cast answered by {stop, normal, State}. Once the"),
    tour:say("counter is gone, a call finds nobody: the caller exits with noproc."),
    tour:show("counter:stop().", fun stop/0),
    await_gone(),
    tour:show("counter:read().", fun read/0),
    tour:say("start_link links the caller and the server. counter:client(false)"),
    tour:say("spawns a client that start_links a new counter, and returns both:"),
    {Client1, Counter1} = client(false),
    tour:show("{Client1, Counter1} = counter:client(false).",
              fun() -> {Client1, Counter1} end),
    Ref1 = monitor(process, Counter1),
    tour:show("Ref1 = monitor(process, Counter1).", fun() -> Ref1 end),
    tour:say("The client crashes with reason oops and takes the counter along:"),
    tour:show("Client1 ! {crash, oops}.", fun() -> Client1 ! {crash, oops} end),
    tour:show("receive {'DOWN', Ref1, process, Counter1, Why1} -> Why1 end.",
              fun() -> receive {'DOWN', Ref1, process, Counter1, Why1} -> Why1 end end),
    tour:say("The other way: the counter crashes (reason boom) and its linked"),
    tour:say("client dies too, as it does not trap exits:"),
    {Client2, Counter2} = client(false),
    tour:show("{Client2, Counter2} = counter:client(false).",
              fun() -> {Client2, Counter2} end),
    Ref2 = monitor(process, Client2),
    tour:show("Ref2 = monitor(process, Client2).", fun() -> Ref2 end),
    tour:before("counter:crash().", ok, fun crash/0),
    tour:show("receive {'DOWN', Ref2, process, Client2, Why2} -> Why2 end.",
              fun() -> receive {'DOWN', Ref2, process, Client2, Why2} -> Why2 end end),
    tour:say("A client that traps exits survives and gets a message instead;"),
    tour:say("counter:client(true) passes it on to us as {Client, Msg}:"),
    {Client3, Counter3} = client(true),
    tour:show("{Client3, Counter3} = counter:client(true).",
              fun() -> {Client3, Counter3} end),
    tour:before("counter:crash().", ok, fun crash/0),
    tour:show("receive {Client3, Msg} -> Msg end.",
              fun() -> receive {Client3, Msg} -> Msg end end),
    tour:say("A call waits 5000 ms by default. A request that keeps the"),
    tour:say("server busy longer than the caller waits ends in timeout:"),
    tour:show("counter:start_link().", fun start_link/0),
    tour:show("counter:slow(300, 100).", fun() -> slow(300, 100) end),
    tour:say("The server is fine, only the caller gave up:"),
    tour:show("counter:read().", fun read/0),
    tour:show("counter:stop().", fun stop/0),
    await_gone(),
    tour:say("Try it yourself: 03_gen_server/counter --shell").

%% A client of the counter, for the demo: a process that start_links the
%% counter and tells us. With Trap = false it waits for {crash, Reason} and
%% exits with Reason; with Trap = true it traps exits and passes the first
%% message it gets on to us as {Client, Msg}. Returns {Client, Counter}.
client(Trap) ->
    Boss = self(),
    Client = spawn(fun() ->
                       process_flag(trap_exit, Trap),
                       {ok, Counter} = start_link(),
                       Boss ! {self(), started, Counter},
                       client_wait(Boss, Trap)
                   end),
    receive {Client, started, Counter} -> {Client, Counter} end.

client_wait(Boss, true) -> receive Msg -> Boss ! {self(), Msg} end;
client_wait(_Boss, false) -> receive {crash, Reason} -> exit(Reason) end.

%% Waits until the counter has handled every message sent to it before:
%% a system message is answered in order, and a trace prints nothing for it.
await_idle() -> _ = sys:get_state(counter), ok.

await_gone() ->
    Ref = monitor(process, counter),
    receive {'DOWN', Ref, process, _, _} -> ok end.
