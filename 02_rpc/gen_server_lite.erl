%% gen_server_lite.erl - 02_rpc: a generic server written by hand.
%%
%% The loop is generic; the callback module Mod holds the logic:
%%   Mod:handle_call(Req, State) -> {reply, Reply, NewState}
%%   Mod:handle_cast(Req, State) -> {noreply, NewState} | stop
%% A call is {request, Req, {Pid, Ref}}, answered by {reply, Ref, Reply};
%% a cast is {request, Req}. The study's original answers {reply, R}
%% without the Ref, so any {reply, _} in the caller's mailbox would do.
-module(gen_server_lite).
-export([start/3, call/3, cast/2]).
-export([loop/2]).

start(Name, Mod, State) ->
    register(Name, spawn(gen_server_lite, loop, [Mod, State])).

call(Server, Req, Timeout) ->
    Ref = make_ref(),
    Server ! {request, Req, {self(), Ref}},
    receive
        {reply, Ref, Reply} -> Reply
    after Timeout ->
        erlang:error(timeout)
    end.

cast(Server, Req) ->
    Server ! {request, Req},
    ok.

loop(Mod, State) ->
    receive
        {request, Req, {Pid, Ref}} ->
            {reply, Reply, NewState} = Mod:handle_call(Req, State),
            Pid ! {reply, Ref, Reply},
            loop(Mod, NewState);
        {request, Req} ->
            case Mod:handle_cast(Req, State) of
                {noreply, NewState} -> loop(Mod, NewState);
                stop -> ok
            end;
        _Other ->
            loop(Mod, State)
    end.
