%% gen_server_cluster.erl - the behaviour the study's chapter 06 builds on,
%% written fresh from its description (STUDY.md): a gen_server whose state is
%% copied to backups on other nodes, with fast failover. Kept as the original
%% is, flaws included, to compare with the C chapter (README.md):
%%   - the leader replies, then casts the new state to the backups, with no
%%     acknowledgement: an update the client saw can vanish on failover;
%%   - backups elect by sleeping at random and registering the global name:
%%     two can both believe they lead;
%%   - after a split heals, global keeps one of two leaders and kills the
%%     other (its state, and its side's updates, are gone).
%%
%% Run by hand, one node per shell (erl -sname a, b, c; net_adm:ping them):
%%   counter:start_cluster().   on each node
%%   counter:tick(5), counter:read().
%%   halt() the leader's node; counter:read() on another.
%% beam_demo (beside this file) does that on three nodes, with kill -9.
-module(gen_server_cluster).
-behaviour(gen_server).

-export([start/3, start/4, get_all_server_pids/1, get_all_server_nodes/1, is_running/1,
         get_target_state/1, stop/2, link/2, unlink/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

-record(st, {name, mod, mst, leader, backups = [], links = []}).

%% A member of cluster Name running Mod's callbacks, Mod:init(Args) on the
%% first. The first member to register Name globally leads; later ones
%% back it up (they must see the leader's node: net_adm:ping it first).
start(Name, Mod, Args) -> start(Name, Mod, Args, []).

start(Name, Mod, Args, Opts) ->
    case global:whereis_name(Name) of
        undefined -> gen_server:start({global, Name}, ?MODULE, {Name, Mod, Args, leader}, Opts);
        _Leader -> gen_server:start({local, Name}, ?MODULE, {Name, Mod, Args, backup}, Opts)
    end.

get_all_server_pids(Name) -> gen_server:call({global, Name}, '$get_all_server_pids').

get_all_server_nodes(Name) ->
    {L, Bs} = get_all_server_pids(Name),
    {node(L), [node(B) || B <- Bs]}.

is_running(Name) -> global:whereis_name(Name) =/= undefined.

get_target_state(Name) -> gen_server:call({global, Name}, '$get_target_state').

%% stop(Name, global): the leader; all: every member; Node: that node's.
stop(Name, global) -> gen_server:cast({global, Name}, '$stop');
stop(Name, all) -> gen_server:cast({global, Name}, '$stop_all');
stop(Name, Node) -> gen_server:cast({Name, Node}, '$stop').

link(Name, Pid) -> gen_server:call({global, Name}, {'$link', Pid}).
unlink(Name, Pid) -> gen_server:call({global, Name}, {'$unlink', Pid}).

init({Name, Mod, Args, leader}) ->
    process_flag(trap_exit, true),
    case Mod:init(Args) of
        {ok, MSt} -> {ok, #st{name = Name, mod = Mod, mst = MSt, leader = self()}};
        Other -> Other
    end;
init({Name, Mod, _Args, backup}) ->
    process_flag(trap_exit, true),
    {Leader, MSt} = gen_server:call({global, Name}, {'$join', self()}),
    erlang:link(Leader),
    {ok, #st{name = Name, mod = Mod, mst = MSt, leader = Leader}}.

leads(S) -> S#st.leader =:= self().

handle_call('$get_all_server_pids', _From, S) -> {reply, {self(), S#st.backups}, S};
handle_call('$get_target_state', _From, S) -> {reply, S#st.mst, S};
handle_call({'$join', Pid}, _From, S) ->
    erlang:link(Pid),
    {reply, {self(), S#st.mst}, S#st{backups = [Pid | S#st.backups]}};
handle_call({'$link', Pid}, _From, S) ->
    erlang:link(Pid), {reply, true, S#st{links = [Pid | S#st.links]}};
handle_call({'$unlink', Pid}, _From, S) ->
    erlang:unlink(Pid), {reply, true, S#st{links = lists:delete(Pid, S#st.links)}};
handle_call(Req, From, S) ->
    case (S#st.mod):handle_call(Req, From, S#st.mst) of
        {reply, R, MSt} -> {reply, R, replicate(S#st{mst = MSt})};
        {noreply, MSt} -> {noreply, replicate(S#st{mst = MSt})};
        {stop, Why, R, MSt} -> {stop, Why, R, S#st{mst = MSt}}
    end.

handle_cast({'$state', MSt}, S) -> {noreply, S#st{mst = MSt}};     % a backup's copy
handle_cast('$stop', S) -> {stop, normal, S};
handle_cast('$stop_all', S) ->
    [gen_server:cast(B, '$stop') || B <- S#st.backups],
    {stop, normal, S};
handle_cast(Req, S) ->
    case (S#st.mod):handle_cast(Req, S#st.mst) of
        {noreply, MSt} -> {noreply, replicate(S#st{mst = MSt})};
        {stop, Why, MSt} -> {stop, Why, S#st{mst = MSt}}
    end.

%% The leader died: wait while its name is still held, at random, then try
%% to take it (the random sleep is the whole election).
handle_info({'EXIT', Leader, _}, S = #st{leader = Leader}) when Leader =/= self() ->
    take_over(S);
handle_info({'EXIT', Pid, _}, S) ->
    {noreply, S#st{backups = lists:delete(Pid, S#st.backups)}};
handle_info(Msg, S) ->
    case (S#st.mod):handle_info(Msg, S#st.mst) of
        {noreply, MSt} -> {noreply, replicate(S#st{mst = MSt})};
        {stop, Why, MSt} -> {stop, Why, S#st{mst = MSt}}
    end.

terminate(Why, S) -> (S#st.mod):terminate(Why, S#st.mst).

code_change(_Old, S, _Extra) -> {ok, S}.

%% The new state to every backup: a cast each, unacknowledged.
replicate(S) ->
    case leads(S) of
        true -> [gen_server:cast(B, {'$state', S#st.mst}) || B <- S#st.backups];
        false -> ok
    end,
    S.

take_over(S = #st{name = Name, leader = Old}) ->
    wait_unregistered(Name, Old),
    case global:register_name(Name, self()) of
        yes ->
            {noreply, S#st{leader = self(), backups = []}};
        no ->
            {Leader, _MSt} = gen_server:call({global, Name}, {'$join', self()}),
            erlang:link(Leader),
            {noreply, S#st{leader = Leader}}
    end.

%% While the dead leader's pid still holds the name (global has not yet
%% seen its node go), sleep a random 0-1000 ms and look again.
wait_unregistered(Name, Old) ->
    case global:whereis_name(Name) of
        Old -> timer:sleep(rand:uniform(1000)), wait_unregistered(Name, Old);
        _ -> ok
    end.
