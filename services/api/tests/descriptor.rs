//! The encoded descriptor set that servers hand to gRPC reflection must describe the whole v1
//! API, or grpcurl and ghz (which rely on reflection) cannot call it.

use prost::Message;

#[test]
fn descriptor_set_describes_every_service_and_method() {
    let set = prost_types::FileDescriptorSet::decode(drover_api::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut methods: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package() == "drover.v1")
        .flat_map(|f| f.service.iter())
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}.{}", s.name(), m.name()))
        })
        .collect();
    methods.sort();
    assert_eq!(
        methods,
        [
            "AiRouterService.Chat",
            "AiRouterService.ChatStream",
            "AiRouterService.Embed",
            "AiRouterService.GetRouterStatus",
            "BrowserPoolService.ExecuteBrowserJob",
            "BrowserPoolService.GetPoolStatus",
            "SchedulerService.CancelTask",
            "SchedulerService.GetClusterStatus",
            "SchedulerService.GetTask",
            "SchedulerService.ListTasks",
            "SchedulerService.RunTask",
            "SchedulerService.SubmitTask",
            "SchedulerService.SubmitTasks",
            "SchedulerService.WatchTask",
            "WorkerHubService.Attach",
        ]
    );
    // Reflection resolves imports by name, so the well-known types must be present too.
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    assert!(
        names.contains(&"google/protobuf/duration.proto"),
        "{names:?}"
    );
    assert!(
        names.contains(&"google/protobuf/timestamp.proto"),
        "{names:?}"
    );
}

#[test]
fn streaming_shapes_match_the_contract() {
    let set = prost_types::FileDescriptorSet::decode(drover_api::FILE_DESCRIPTOR_SET).unwrap();
    let method = |service: &str, name: &str| {
        set.file
            .iter()
            .flat_map(|f| f.service.iter())
            .filter(|s| s.name() == service)
            .flat_map(|s| s.method.iter())
            .find(|m| m.name() == name)
            .cloned()
            .unwrap_or_else(|| panic!("{service}.{name} missing"))
    };
    let attach = method("WorkerHubService", "Attach");
    assert!(attach.client_streaming() && attach.server_streaming());
    let submit_many = method("SchedulerService", "SubmitTasks");
    assert!(submit_many.client_streaming() && submit_many.server_streaming());
    let watch = method("SchedulerService", "WatchTask");
    assert!(!watch.client_streaming() && watch.server_streaming());
    let chat_stream = method("AiRouterService", "ChatStream");
    assert!(!chat_stream.client_streaming() && chat_stream.server_streaming());
}
